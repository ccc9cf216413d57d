import { archiveKey } from '../../src/application/accounts/archived-commands';

/**
 * An archive chunk as snapshot version 4 wrote it into `commands` (the service now packs them,
 * so tests write this form by hand): JSON whose `keys` is base64 of a little-endian float64 pair
 * per command, its archiveKey and when it was recorded (epoch ms).
 */
export const version4Chunk = (commands: readonly { readonly commandId: string; readonly at: number }[]): string => {
  const bytes = Buffer.alloc(commands.length * 16);
  commands.forEach((command, index) => {
    bytes.writeDoubleLE(archiveKey(command.commandId), index * 16);
    bytes.writeDoubleLE(command.at, index * 16 + 8);
  });
  return JSON.stringify({ ids: [], recordedAt: [], keys: bytes.toString('base64') });
};
