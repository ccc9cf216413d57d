/**
 * A reservation id names its account, so a capture or release finds the account's
 * stream from the id alone: `rsv_<unique>_<base64url(accountId)>`. Clients treat it as opaque.
 */
const PATTERN = /^rsv_([0-9a-f]{32})_([A-Za-z0-9_-]+)$/;

export const reservationIdFor = (accountId: string, unique: string): string =>
  `rsv_${unique.replaceAll('-', '')}_${Buffer.from(accountId).toString('base64url')}`;

export const accountOfReservation = (reservationId: string): string | undefined => {
  const encoded = PATTERN.exec(reservationId)?.[2];
  if (encoded === undefined) return undefined;
  const accountId = Buffer.from(encoded, 'base64url').toString();
  return Buffer.from(accountId).toString('base64url') === encoded ? accountId : undefined;
};
