import { join } from 'node:path';
import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { AccountCommandExecutor } from '../application/accounts/account-command-executor';
import { AccountRepository } from '../application/accounts/account-repository';
import { AdjustCreditsHandler } from '../application/adjust-credits/adjust-credits.handler';
import { CatalogService } from '../application/catalog/catalog.service';
import { CLOCK, ID_GENERATOR } from '../application/clock.port';
import { EVENT_STORE, type EventStore } from '../application/event-store.port';
import { GetBalanceHandler } from '../application/get-balance/get-balance.handler';
import { GrantCreditsHandler } from '../application/grant-credits/grant-credits.handler';
import { LEDGER_SETTINGS, type LedgerSettings } from '../application/ledger-settings';
import { RecordPurchaseHandler } from '../application/record-purchase/record-purchase.handler';
import { UseCreditsHandler } from '../application/use-credits/use-credits.handler';
import { AuthGuard } from './auth/auth.guard';
import { JwtVerifier } from './auth/jwt-verifier';
import { DEFAULT_CATALOG_DIR, loadPackages, loadRateCards } from './catalog/catalog-files';
import type { AppConfig } from './config/app-config';
import { EventStoreDbEventStore } from './event-store/eventstoredb-event-store';
import { PostgresEventStore } from './event-store/postgres-event-store';
import { AdminController } from './http/admin.controller';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { CreditsController } from './http/credits.controller';
import { HealthController } from './http/health.controller';
import { PgliteSqlClient, PgSqlClient, type SqlClient } from './postgres/sql-client';
import { systemClock, uuidGenerator } from './system-clock';
import { APP_CONFIG, SQL_CLIENT } from './tokens';

const MAX_APPEND_ATTEMPTS = 8;
const STREAM_PAGE_SIZE = 1000;

export const ledgerSettings = (config: AppConfig): LedgerSettings => {
  const catalogDir = config.catalogDir ?? DEFAULT_CATALOG_DIR;
  return {
    idempotencyRetentionMs: config.idempotencyRetentionHours * 60 * 60 * 1000,
    rateCards: loadRateCards(catalogDir),
    packages: loadPackages(catalogDir),
    maxAppendAttempts: MAX_APPEND_ATTEMPTS,
    streamPageSize: STREAM_PAGE_SIZE,
  };
};

const openSqlClient = (config: AppConfig): Promise<SqlClient> =>
  config.databaseUrl === undefined
    ? PgliteSqlClient.open(join(config.dataDir, 'pglite'))
    : Promise.resolve(PgSqlClient.connect(config.databaseUrl));

const openEventStore = (config: AppConfig, sql: SqlClient): Promise<EventStore> =>
  config.eventStoreConnectionString === undefined
    ? PostgresEventStore.open(sql)
    : Promise.resolve(EventStoreDbEventStore.connect(config.eventStoreConnectionString));

/** Closes the stores when the application shuts down (SIGTERM, app.close()). */
class ResourceCloser implements OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(SQL_CLIENT) private readonly sql: SqlClient,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.events.close();
    await this.sql.close();
  }
}

@Module({})
export class LedgerModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: LedgerModule,
      imports: [CqrsModule.forRoot()],
      controllers: [CreditsController, AdminController, HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LEDGER_SETTINGS, useValue: ledgerSettings(config) },
        { provide: SQL_CLIENT, useFactory: () => openSqlClient(config) },
        { provide: EVENT_STORE, useFactory: (sql: SqlClient) => openEventStore(config, sql), inject: [SQL_CLIENT] },
        { provide: CLOCK, useValue: systemClock },
        { provide: ID_GENERATOR, useValue: uuidGenerator },
        { provide: JwtVerifier, useValue: JwtVerifier.fromConfig(config.auth) },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        ResourceCloser,
        CatalogService,
        AccountRepository,
        AccountCommandExecutor,
        UseCreditsHandler,
        GrantCreditsHandler,
        AdjustCreditsHandler,
        RecordPurchaseHandler,
        GetBalanceHandler,
      ],
    };
  }
}
