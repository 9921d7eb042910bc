// CoalescedReport: at most one event per interval, and the last state is never lost (a held-back call is sent when its interval ends).

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoalescedReport } from '../src/progress.js';

describe('CoalescedReport', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first call at once, holds back the rest of the interval, and sends once when it ends', () => {
    const sent: number[] = [];
    let state = 0;
    const report = new CoalescedReport(
      250,
      () => sent.push(state),
      () => Date.now(),
    );
    for (state = 1; state <= 5; state++) report.request();
    expect(sent).toEqual([1]);
    state = 42;
    vi.advanceTimersByTime(250);
    // One trailing event with the state as it is then, not one per held-back call.
    expect(sent).toEqual([1, 42]);
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([1, 42]);
  });

  it('force sends at once and drops the pending one; close drops it too', () => {
    const sent: string[] = [];
    let state = 'a';
    const report = new CoalescedReport(
      250,
      () => sent.push(state),
      () => Date.now(),
    );
    report.request();
    state = 'b';
    report.request();
    state = 'c';
    report.request(true);
    vi.advanceTimersByTime(500);
    expect(sent).toEqual(['a', 'c']);
    vi.advanceTimersByTime(100);
    state = 'd';
    report.request();
    state = 'e';
    report.request();
    report.close();
    vi.advanceTimersByTime(500);
    expect(sent).toEqual(['a', 'c', 'd']);
  });
});
