/** What every account command brings from the edge; the handler adds time and ids. */
export interface CommandInput {
  readonly accountId: string;
  readonly commandId: string;
  readonly requestHash: string;
}
