import { Inject, Logger, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CommandBus, CqrsModule, QueryBus } from '@nestjs/cqrs';
import { AccountCommandExecutor } from '../application/accounts/account-command-executor';
import { AccountRepository } from '../application/accounts/account-repository';
import { SNAPSHOT_STORE } from '../application/accounts/account-snapshot';
import { PostgresSnapshotStore } from './postgres/postgres-snapshot-store';
import { AdjustCreditsHandler } from '../application/adjust-credits/adjust-credits.handler';
import { CatalogService } from '../application/catalog/catalog.service';
import { CLOCK, ID_GENERATOR } from '../application/clock.port';
import { EVENT_STORE, type EventStore } from '../application/event-store.port';
import { GetBalanceHandler } from '../application/get-balance/get-balance.handler';
import { GetTransactionsHandler } from '../application/get-transactions/get-transactions.handler';
import { GetUsageAnalyticsHandler } from '../application/get-usage-analytics/get-usage-analytics.handler';
import { GetUsageHandler } from '../application/get-usage/get-usage.handler';
import { PROJECTION_PROGRESS, READ_MODELS, type ProjectionProgress, type ReadModels } from '../application/read-models.port';
import { GetBalanceQuery } from '../application/get-balance/get-balance.query';
import { BalanceFeed } from './live/balance-feed';
import { BalanceStreamController } from './http/balance-stream.controller';
import { balanceResponse } from './http/responses';
import { CheckpointProgress } from '../projections/projection-progress';
import { DEFAULT_RUNNER_OPTIONS } from '../projections/projection-runner';
import { PROJECTIONS } from '../projections/projections.registry';
import { ProjectionsHost } from '../projections/projections-host';
import { PostgresReadModels } from '../projections/postgres-read-models';
import { AnalyticsController } from './http/analytics.controller';
import { AuditController } from './http/audit.controller';
import { GetAccountEventsHandler } from '../application/audit/get-account-events';
import { GetBalanceAsOfHandler } from '../application/audit/get-balance-as-of';
import { ReservationsController } from './http/reservations.controller';
import { ListOpenReservationsHandler } from '../application/reservations/list-open-reservations';
import { SetLowBalanceThresholdHandler } from '../application/alerts/set-low-balance-threshold';
import { ExpiryScheduler } from './expiry-scheduler';
import { AlertDispatcher } from './alerts/alert-dispatcher';
import {
  CaptureReservationHandler,
  ExpireDueHandler,
  ReleaseReservationHandler,
  ReserveCreditsHandler,
} from '../application/reservations/reservation.handlers';
import { PaymentsController } from './http/payments.controller';
import { SimulatedCheckoutController } from './http/simulated-checkout.controller';
import { DevTokenController } from './http/dev-token.controller';
import { RefundPurchaseHandler } from '../application/refund-purchase/refund-purchase.handler';
import { paymentsGateway } from './stripe/payments-gateway';
import { PAYMENTS_GATEWAY } from './stripe/payments.port';
import { StripeWebhookProcessor } from './stripe/stripe-webhook.processor';
import { GrantCreditsHandler } from '../application/grant-credits/grant-credits.handler';
import { LEDGER_SETTINGS, type LedgerSettings } from '../application/ledger-settings';
import { RecordPurchaseHandler } from '../application/record-purchase/record-purchase.handler';
import { UseCreditsHandler } from '../application/use-credits/use-credits.handler';
import { AuthGuard } from './auth/auth.guard';
import { JwtVerifier } from './auth/jwt-verifier';
import { DEFAULT_CATALOG_DIR, loadPackages, loadRateCards } from './catalog/catalog-files';
import { ConfigError, type AppConfig } from './config/app-config';
import { rateCardInForce } from '../domain/rate-card';
import { AdminController } from './http/admin.controller';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { CreditsController } from './http/credits.controller';
import { HealthController } from './http/health.controller';
import type { SqlClient } from './postgres/sql-client';
import { openEventStore, openSqlClient } from './stores';
import { PostgresEventStore } from './event-store/postgres-event-store';
import { errorText, ProjectionThread, projectionsWorkerEntry } from './projection-thread';
import { systemClock, uuidGenerator } from './system-clock';
import { APP_CONFIG, PROJECTIONS_HOST, SQL_CLIENT } from './tokens';
import { LedgerMetrics } from './observability/ledger-metrics';
import { MetricsController } from './observability/metrics.controller';
import { meteredEventStore, observabilityProviders } from './observability/observability';

const ALERT_DISPATCHER = Symbol('AlertDispatcher');
const MAX_APPEND_ATTEMPTS = 8;
const STREAM_PAGE_SIZE = 1000;
const SNAPSHOT_EVERY_EVENTS = 1000;
const MAX_BATCH_COMMANDS = 256;
/**
 * 5 ms: longer than an ordinary append's round trip here. At 2,000 spends/s over 10,000
 * accounts Postgres took 37-48% of a core with it instead of 70-72% with every batch
 * started at once (bench/README.md, "Reading the 2026-12-06 figures").
 */
const BATCH_OVERLAP_MS = 5;
const ACCOUNT_CACHE_SIZE = 10_000;
/**
 * 2,000,000 events, a guard against running out of heap rather than a working limit.
 * Without a budget, 10,000 cached accounts could hold a snapshot interval each,
 * 10,000,000 records, at about 500 bytes of live heap per spend in the service: past the
 * default heap limit (4,144 MB here). At 2,000,000 the records take about 1.0-1.7 GB, and
 * over 10,000 busy accounts an early snapshot archives about 200 events. Lower budgets
 * cost too much: at 500,000 (about 50 events per early snapshot) a 420 s open loop at
 * 1,500 spends/s had the machine 90% busy instead of 75% once the budget bound, and p99
 * 4,231 ms against 1,291 ms without a budget (bench/README.md, "A budget for the records
 * held in memory").
 */
const UNARCHIVED_EVENTS_BUDGET = 2_000_000;

export const ledgerSettings = (config: AppConfig, now = new Date()): LedgerSettings => {
  const catalogDir = config.catalogDir ?? DEFAULT_CATALOG_DIR;
  const rateCards = loadRateCards(catalogDir);
  if (rateCardInForce(rateCards, now.toISOString()) === undefined) {
    throw new ConfigError([`CATALOG_DIR: ${catalogDir}/rate-cards.json has no rate card in force at ${now.toISOString()}`]);
  }
  return {
    idempotencyRetentionMs: config.idempotencyRetentionHours * 60 * 60 * 1000,
    rateCards,
    packages: loadPackages(catalogDir),
    maxAppendAttempts: MAX_APPEND_ATTEMPTS,
    streamPageSize: STREAM_PAGE_SIZE,
    snapshotEveryEvents: SNAPSHOT_EVERY_EVENTS,
    maxBatchCommands: MAX_BATCH_COMMANDS,
    batchOverlapMs: BATCH_OVERLAP_MS,
    accountCacheSize: ACCOUNT_CACHE_SIZE,
    unarchivedEventsBudget: UNARCHIVED_EVENTS_BUDGET,
    readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
  };
};

/**
 * Starts the projections with the application (unless they run in their own process)
 * and on shutdown (SIGTERM, app.close()) stops them before it closes the stores.
 */
class LedgerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROJECTIONS_HOST) private readonly projections: ProjectionsHost,
    private readonly expiries: ExpiryScheduler,
    @Inject(ALERT_DISPATCHER) private readonly alerts: AlertDispatcher | null,
    private readonly feed: BalanceFeed,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(SQL_CLIENT) private readonly sql: SqlClient,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.runProjections) return;
    await this.projections.start();
    projectionLogger.log(`projections running in ${this.projections.where}: ${this.projections.projections.map((projection) => projection.name).join(', ')}`);
    this.expiries.start();
    if (this.alerts !== null) {
      await AlertDispatcher.prepare(this.sql);
      this.alerts.start();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.feed.stop();
    await this.alerts?.stop();
    await this.expiries.stop();
    await this.projections.stop();
    await this.events.close();
    await this.sql.close();
  }
}

const projectionLogger = new Logger('projections');

/** The event store adapter itself, under its metering. */
const STORE_ADAPTER = Symbol('EventStoreAdapter');

/**
 * With Postgres at DATABASE_URL (PGlite is one connection in this thread) and the compiled
 * worker at hand, the projections run in a worker thread, told of each append of this
 * process; otherwise (undefined) in this thread.
 */
const projectionThread = (config: AppConfig, adapter: EventStore, onError: (name: string, error: unknown) => void): ProjectionThread | undefined => {
  const entry = projectionsWorkerEntry();
  if (!config.runProjections || !config.projectionsThread || config.databaseUrl === undefined || entry === undefined) return undefined;
  const thread = new ProjectionThread(entry, onError);
  if (adapter instanceof PostgresEventStore) adapter.onAppended(() => thread.appended());
  return thread;
};

@Module({})
export class LedgerModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: LedgerModule,
      imports: [CqrsModule.forRoot()],
      controllers: [BalanceStreamController, CreditsController, ReservationsController, PaymentsController, SimulatedCheckoutController, DevTokenController, AdminController, AnalyticsController, AuditController, HealthController, MetricsController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LEDGER_SETTINGS, useValue: ledgerSettings(config) },
        { provide: SQL_CLIENT, useFactory: () => openSqlClient(config) },
        ...observabilityProviders,
        { provide: STORE_ADAPTER, useFactory: (sql: SqlClient) => openEventStore(config, sql), inject: [SQL_CLIENT] },
        {
          provide: EVENT_STORE,
          useFactory: (store: EventStore, metrics: LedgerMetrics) => meteredEventStore(store, metrics),
          inject: [STORE_ADAPTER, LedgerMetrics],
        },
        { provide: SNAPSHOT_STORE, useFactory: (sql: SqlClient) => PostgresSnapshotStore.open(sql), inject: [SQL_CLIENT] },
        { provide: CLOCK, useValue: systemClock },
        { provide: ID_GENERATOR, useValue: uuidGenerator },
        { provide: JwtVerifier, useValue: JwtVerifier.fromConfig(config.auth) },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        {
          provide: PROJECTIONS_HOST,
          useFactory: (sql: SqlClient, events: EventStore, adapter: EventStore) => {
            const onError = (name: string, error: unknown) => projectionLogger.error(`${name}: ${errorText(error)}`);
            return new ProjectionsHost(sql, events, PROJECTIONS, { ...DEFAULT_RUNNER_OPTIONS, onError }, projectionThread(config, adapter, onError));
          },
          inject: [SQL_CLIENT, EVENT_STORE, STORE_ADAPTER],
        },
        { provide: READ_MODELS, useFactory: (sql: SqlClient) => new PostgresReadModels(sql), inject: [SQL_CLIENT] },
        { provide: PROJECTION_PROGRESS, useFactory: (sql: SqlClient) => new CheckpointProgress(sql), inject: [SQL_CLIENT] },
        LedgerLifecycle,
        CatalogService,
        AccountRepository,
        AccountCommandExecutor,
        UseCreditsHandler,
        GrantCreditsHandler,
        AdjustCreditsHandler,
        RecordPurchaseHandler,
        RefundPurchaseHandler,
        ReserveCreditsHandler,
        CaptureReservationHandler,
        ReleaseReservationHandler,
        ExpireDueHandler,
        SetLowBalanceThresholdHandler,
        {
          provide: BalanceFeed,
          useFactory: (events: EventStore, readModels: ReadModels, progress: ProjectionProgress, queries: QueryBus) =>
            new BalanceFeed(
              events,
              readModels,
              progress,
              async (accountId) => balanceResponse(await queries.execute(new GetBalanceQuery(accountId, undefined))),
              (error) => projectionLogger.error(`live balance feed: ${error instanceof Error ? error.message : String(error)}`),
            ),
          inject: [EVENT_STORE, READ_MODELS, PROJECTION_PROGRESS, QueryBus],
        },
        {
          provide: ALERT_DISPATCHER,
          useFactory: (sql: SqlClient) =>
            config.alertWebhook === undefined
              ? null
              : new AlertDispatcher(sql, {
                  ...config.alertWebhook,
                  intervalMs: Math.min(1000, config.alertWebhook.retryBaseMs),
                  maxRetryMs: 5 * 60 * 1000,
                  onError: (error) => projectionLogger.error(`alerts: ${error instanceof Error ? error.message : String(error)}`),
                }),
          inject: [SQL_CLIENT],
        },
        {
          provide: ExpiryScheduler,
          useFactory: (sql: SqlClient, commands: CommandBus) =>
            new ExpiryScheduler(sql, commands, systemClock, {
              intervalMs: config.expiryIntervalMs,
              onError: (error) => projectionLogger.error(`expiry: ${errorText(error)}`),
            }),
          inject: [SQL_CLIENT, CommandBus],
        },
        StripeWebhookProcessor,
        { provide: PAYMENTS_GATEWAY, useValue: paymentsGateway(config.payments, config.publicBaseUrl) },
        GetBalanceHandler,
        GetTransactionsHandler,
        GetUsageHandler,
        GetUsageAnalyticsHandler,
        GetAccountEventsHandler,
        GetBalanceAsOfHandler,
        ListOpenReservationsHandler,
      ],
    };
  }
}
