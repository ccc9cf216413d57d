import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiPublic } from '../observability/openapi';
import { EVENT_STORE, type EventStore } from '../../application/event-store.port';
import { PublicRoute } from '../auth/auth.guard';
import type { SqlClient } from '../postgres/sql-client';
import type { ProjectionsHost } from '../../projections/projections-host';
import { PROJECTIONS_HOST, SQL_CLIENT } from '../tokens';

const CHECK_TIMEOUT_MS = 2000;

type Check = 'ok' | 'unavailable';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(SQL_CLIENT) private readonly sql: SqlClient,
    @Inject(PROJECTIONS_HOST) private readonly projections: ProjectionsHost,
  ) {}

  @Get()
  @PublicRoute()
  @ApiPublic()
  @ApiOperation({ summary: 'Liveness of the event store and read model, and each projection lag' })
  @ApiResponse({ status: 200, description: '{ status: "ok", eventStore, readModel, projectionLag: { <projection>: { events, ms, position } } }' })
  @ApiResponse({ status: 503, description: '{ status: "unavailable", eventStore, readModel, projectionLag: null }' })
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    const [eventStore, readModel] = await Promise.all([
      check(() => this.events.readStream('ledger-health-check', 0, 1)),
      check(() => this.sql.query('SELECT 1')),
    ]);
    const healthy = eventStore === 'ok' && readModel === 'ok';
    const projectionLag = healthy ? await this.projections.lag(new Date()).catch(() => null) : null;
    void reply.status(healthy ? 200 : 503);
    return { status: healthy ? 'ok' : 'unavailable', eventStore, readModel, projectionLag };
  }
}

const check = async (probe: () => Promise<unknown>): Promise<Check> => {
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS).unref()),
    ]);
    return 'ok';
  } catch {
    return 'unavailable';
  }
};
