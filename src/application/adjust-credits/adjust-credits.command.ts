import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

export class AdjustCreditsCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & {
      readonly creditsMillicredits: number;
      readonly reason: string;
      readonly adjustedBy: string;
    },
  ) {
    super();
  }
}
