import { useEffect, useState, type FormEvent } from 'react';
import type { CreditPackage, LedgerClient, OpenReservation, RateCard } from '../../client/src/index';
import type { CreditsState } from '../../client/src/react';
import { credits, dateTime, errorText, price, rate } from './format';

export const Packages = ({ client }: { client: LedgerClient }) => {
  const [packages, setPackages] = useState<readonly CreditPackage[]>([]);
  const [error, setError] = useState('');
  const [buying, setBuying] = useState<string | undefined>(undefined);

  useEffect(() => {
    client.getPackages().then(setPackages, (caught: unknown) => setError(errorText(caught)));
  }, [client]);

  const buy = async (pkg: CreditPackage) => {
    setBuying(pkg.id);
    setError('');
    try {
      const back = `${window.location.origin}/dashboard/`;
      const session = await client.checkout(pkg.id, { successUrl: `${back}?checkout=success`, cancelUrl: `${back}?checkout=cancelled` });
      window.location.assign(session.checkoutUrl);
    } catch (caught) {
      setError(`Checkout failed: ${errorText(caught)}`);
      setBuying(undefined);
    }
  };

  return (
    <section className="card" aria-labelledby="packages-title">
      <h2 id="packages-title">Buy credits</h2>
      <ul className="packages">
        {packages.map((pkg) => (
          <li key={pkg.id}>
            <span className="package-name">{pkg.name}</span>
            <span>
              {credits(pkg.credits)} credits · {price(pkg)}
            </span>
            <button type="button" onClick={() => void buy(pkg)} disabled={buying !== undefined} aria-label={`Buy ${pkg.name}: ${credits(pkg.credits)} credits for ${price(pkg)}`}>
              {buying === pkg.id ? 'Opening checkout…' : 'Buy'}
            </button>
          </li>
        ))}
      </ul>
      {error !== '' && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
};

/** Spend from this page through the useCredits hook: the cost is checked first, with the rate card's exact rule. */
export const SpendForm = ({ credit }: { credit: CreditsState }) => {
  const services = credit.rateCard?.services ?? [];
  const [service, setService] = useState('sms');
  const [quantity, setQuantity] = useState('1');
  const [message, setMessage] = useState('');
  const amount = Number(quantity);
  const valid = Number.isSafeInteger(amount) && amount > 0;
  const enough = valid && credit.hasEnoughCredits(service, amount);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const result = await credit.use(service, amount);
      setMessage(`Charged ${credits(result.charged)} credits for ${result.quantity} × ${result.service}.`);
    } catch (caught) {
      setMessage(`Not charged: ${errorText(caught)}`);
    }
  };

  return (
    <section className="card" aria-labelledby="spend-title">
      <h2 id="spend-title">Try a spend</h2>
      <form onSubmit={submit} className="inline-form">
        <label htmlFor="spend-service">Service</label>
        <select id="spend-service" value={service} onChange={(event) => setService(event.target.value)}>
          {services.map((candidate) => (
            <option key={candidate.service} value={candidate.service}>
              {candidate.service}
            </option>
          ))}
        </select>
        <label htmlFor="spend-quantity">Quantity</label>
        <input id="spend-quantity" inputMode="numeric" pattern="[0-9]*" value={quantity} onChange={(event) => setQuantity(event.target.value)} />
        <button type="submit" disabled={!enough}>
          Spend
        </button>
      </form>
      <p className="hint" aria-live="polite">
        {!valid ? 'Enter a whole number of units.' : enough ? 'You have enough credits.' : 'Not enough credits for this.'} {message}
      </p>
    </section>
  );
};

export const CostGuide = ({ rateCard }: { rateCard: RateCard | undefined }) => (
  <section className="card wide" aria-labelledby="costs-title">
    <h2 id="costs-title">What services cost</h2>
    {rateCard === undefined ? (
      <p>Loading…</p>
    ) : (
      <div className="scroll">
        <table>
          <caption className="hint">
            Rate card {rateCard.version}, in force since {dateTime(rateCard.effectiveFrom)}
          </caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Cost</th>
              <th scope="col">What it is</th>
            </tr>
          </thead>
          <tbody>
            {rateCard.services.map((service) => (
              <tr key={service.service}>
                <th scope="row">{service.service}</th>
                <td>{rate(service)}</td>
                <td>{service.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
  </section>
);

/**
 * The account's open reservations, listed by the service (so holds made elsewhere show
 * too). The list is fetched again after a hold or a release here and whenever the live
 * balance moves (`position`), which is how holds, captures and expiries from other
 * clients arrive.
 */
export const Reservations = ({
  client,
  rateCard,
  position,
  onChange,
}: {
  client: LedgerClient;
  rateCard: RateCard | undefined;
  position: number;
  onChange: (position: number) => void;
}) => {
  const [open, setOpen] = useState<readonly OpenReservation[] | undefined>(undefined);
  const [listError, setListError] = useState('');
  const [service, setService] = useState('voice_call');
  const [quantity, setQuantity] = useState('60');
  const [message, setMessage] = useState('');
  const [releasing, setReleasing] = useState<string | undefined>(undefined);
  // Bumped by this page's own writes: the list is fetched again at once, even before the balance moves.
  const [written, setWritten] = useState(0);

  useEffect(() => {
    let active = true;
    client.listReservations().then(
      (next) => active && (setOpen(next.items), setListError('')),
      (caught: unknown) => active && setListError(errorText(caught)),
    );
    return () => {
      active = false;
    };
  }, [client, position, written]);

  const changed = (at: number) => {
    setWritten((count) => count + 1);
    onChange(at);
  };

  const reserve = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const reservation = await client.reserve(service, Number(quantity), { ttlSeconds: 600 });
      setMessage(`Held ${credits(reservation.reserved)} credits until ${dateTime(reservation.expiresAt)}.`);
      changed(reservation.position);
    } catch (caught) {
      setMessage(`Not held: ${errorText(caught)}`);
    }
  };

  const release = async (reservation: OpenReservation) => {
    setReleasing(reservation.reservationId);
    try {
      const result = await client.release(reservation.reservationId);
      setMessage(`Released ${credits(result.released)} credits.`);
      changed(result.position);
    } catch (caught) {
      setMessage(`Release failed: ${errorText(caught)}`);
      setWritten((count) => count + 1);
    } finally {
      setReleasing(undefined);
    }
  };

  return (
    <section className="card" aria-labelledby="reservations-title">
      <h2 id="reservations-title">Open reservations</h2>
      <p className="hint">Credits held for metered sessions, from this page or any other client, soonest-expiring first.</p>
      <form onSubmit={reserve} className="inline-form">
        <label htmlFor="hold-service">Service</label>
        <select id="hold-service" value={service} onChange={(event) => setService(event.target.value)}>
          {(rateCard?.services ?? []).map((candidate) => (
            <option key={candidate.service} value={candidate.service}>
              {candidate.service}
            </option>
          ))}
        </select>
        <label htmlFor="hold-quantity">Quantity</label>
        <input id="hold-quantity" inputMode="numeric" pattern="[0-9]*" value={quantity} onChange={(event) => setQuantity(event.target.value)} />
        <button type="submit">Hold</button>
      </form>
      {listError !== '' && (
        <p role="alert" className="error">
          Could not list the reservations: {listError}
        </p>
      )}
      {open === undefined ? (
        listError === '' && <p>Loading…</p>
      ) : open.length === 0 ? (
        <p>No open reservations.</p>
      ) : (
        <ul className="held" aria-labelledby="reservations-title" data-testid="open-reservations">
          {open.map((reservation) => (
            <li key={reservation.reservationId}>
              <span>
                {credits(reservation.reserved)} for {reservation.service}, until {dateTime(reservation.expiresAt)}
              </span>
              <span className="actions">
                <button
                  type="button"
                  className="secondary"
                  disabled={releasing === reservation.reservationId}
                  aria-label={`Release ${credits(reservation.reserved)} held for ${reservation.service}`}
                  onClick={() => void release(reservation)}
                >
                  Release
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
      <p className="hint" aria-live="polite">
        {message}
      </p>
    </section>
  );
};
