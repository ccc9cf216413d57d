import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { ProjectionsHost } from '../../projections/projections-host';
import { PublicRoute } from '../auth/auth.guard';
import { PROJECTIONS_HOST } from '../tokens';
import { LedgerMetrics } from './ledger-metrics';
import { ApiAnswers, ApiPublic } from './openapi';

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: LedgerMetrics,
    @Inject(PROJECTIONS_HOST) private readonly projections: ProjectionsHost,
  ) {}

  @Get()
  @PublicRoute()
  @ApiPublic()
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format)' })
  @ApiProduces('text/plain')
  @ApiAnswers({ status: 200, description: 'Prometheus text format 0.0.4', contentType: 'text/plain' })
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('cache-control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.scrape(() => this.projections.lag(new Date()));
  }
}
