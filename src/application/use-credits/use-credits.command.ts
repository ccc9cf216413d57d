import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

export class UseCreditsCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & {
      readonly service: string;
      readonly quantity: number;
      readonly metadata: Readonly<Record<string, string | number | boolean>>;
    },
  ) {
    super();
  }
}
