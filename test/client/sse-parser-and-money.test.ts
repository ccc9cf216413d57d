import { chargeMillicredits, formatMillicredits, parseMillicredits, SseParser, type SseMessage } from '../../client/src/index';

describe('the SSE parser', () => {
  const parse = (chunks: readonly string[]) => {
    const messages: SseMessage[] = [];
    const retries: number[] = [];
    const parser = new SseParser((message) => messages.push(message), (ms) => retries.push(ms));
    for (const chunk of chunks) parser.push(chunk);
    return { messages, retries };
  };

  it('reads events, ids, multi-line data and retry, skipping comments', () => {
    const { messages, retries } = parse(['retry: 2000\n\n: heartbeat 1\n\nid: 7\nevent: balance\ndata: {"a":1}\n\n', 'data: one\ndata: two\n\n']);
    expect(retries).toEqual([2000]);
    expect(messages).toEqual([
      { event: 'balance', data: '{"a":1}', lastEventId: '7' },
      { event: 'message', data: 'one\ntwo', lastEventId: '7' },
    ]);
  });

  it('gives the same messages however the text is split, with LF, CRLF or CR line ends', () => {
    const text = 'id: 3\r\nevent: low_balance\r\ndata: {"id":"x"}\r\n\r\nid: 4\revent: balance\rdata:{"b":2}\r\r';
    const whole = parse([text]).messages;
    expect(whole).toEqual([
      { event: 'low_balance', data: '{"id":"x"}', lastEventId: '3' },
      { event: 'balance', data: '{"b":2}', lastEventId: '4' },
    ]);
    for (let cut = 1; cut < text.length; cut += 1) expect(parse([text.slice(0, cut), text.slice(cut)]).messages).toEqual(whole);
    expect(parse(Array.from(text)).messages).toEqual(whole);
  });
});

describe('exact credit arithmetic', () => {
  it('parses and formats millicredits without floating point', () => {
    expect(parseMillicredits('12.345')).toBe(12_345n);
    expect(parseMillicredits('-9')).toBe(-9000n);
    expect(parseMillicredits('0.1')).toBe(100n);
    expect(parseMillicredits('90071992547409.993')).toBe(90_071_992_547_409_993n);
    expect(formatMillicredits(-9000n)).toBe('-9.000');
    expect(formatMillicredits(90_071_992_547_409_993n)).toBe('90071992547409.993');
    expect(() => parseMillicredits('1.2345')).toThrow('not a credit amount');
  });

  it('charges ceil(quantity × price / per) like the ledger', () => {
    const gpt4 = { service: 'gpt-4', unit: 'token', credits: '60.000', per: 1000, description: '' };
    expect(chargeMillicredits(gpt4, 1)).toBe(60n);
    expect(chargeMillicredits(gpt4, 1500)).toBe(90_000n);
    const voice = { service: 'voice_call', unit: 'second', credits: '1.000', per: 60, description: '' };
    expect(chargeMillicredits(voice, 61)).toBe(1017n);
    // Far beyond 2^53 in the intermediate product: still exact.
    expect(chargeMillicredits(gpt4, Number.MAX_SAFE_INTEGER)).toBe((BigInt(Number.MAX_SAFE_INTEGER) * 60_000n + 999n) / 1000n);
    expect(() => chargeMillicredits(voice, 0)).toThrow('positive integer');
    expect(() => chargeMillicredits(voice, 1.5)).toThrow('positive integer');
  });
});
