import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

export class GrantCreditsCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & {
      readonly creditsMillicredits: number;
      readonly reason: string;
      readonly expiresAt: string | null;
      readonly grantedBy: string;
    },
  ) {
    super();
  }
}
