import type { ProjectionName, ProjectionProgress } from './read-models.port';

/** The read model did not reach the position the client asked for in time: 503, safe to retry. */
export class ReadModelBehindError extends Error {
  override readonly name = 'ReadModelBehindError';
  constructor(readonly position: number) {
    super(`the read model has not reached position ${position} yet`);
  }
}

export const awaitPosition = async (
  progress: ProjectionProgress,
  projections: readonly ProjectionName[],
  minPosition: number | undefined,
  timeoutMs: number,
): Promise<void> => {
  if (minPosition === undefined) return;
  if (!(await progress.waitFor(projections, minPosition, timeoutMs))) throw new ReadModelBehindError(minPosition);
};
