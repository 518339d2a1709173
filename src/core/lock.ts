// Locks between processes: an exclusive lock file created with O_EXCL that holds the holder's pid, host, start
// time and purpose. A lock whose holder is dead (same host, pid gone) is stale and taken over; a live holder means
// a bounded wait, then I3D_LOCKED naming what is locked and the holder's pid. Locks are released by release(), and
// also when the process exits or is ended by SIGINT/SIGTERM/SIGHUP; a lock left by a killed process is stale.
//
// Hand-written rather than npm's proper-lockfile: that library locks with a folder and judges staleness by an mtime
// it keeps refreshing on a timer, so it cannot say which process holds a lock, nor see at once that the holder died.
// Limits: a holder on another host (a shared file system) is never judged stale; a recycled pid keeps a stale lock
// alive until the wait runs out (the error tells which file to remove).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { I3DError } from './errors.js';

export interface LockHolder {
  pid: number;
  host: string;
  /** When the lock was taken (ISO 8601). */
  time: string;
  /** What the holder is doing, e.g. 'i3d train'. */
  purpose?: string;
}

export interface LockOptions {
  /** How long to wait for a live holder before failing with I3D_LOCKED (default 0: fail at once). */
  waitMs?: number;
  /** Recorded in the lock file and shown to whoever waits (e.g. 'i3d train'). */
  purpose?: string;
  /** What the lock protects, in messages (default: the lock file's folder). */
  what?: string;
}

/** A lock file without readable contents is given this long to get them before it counts as stale. */
const UNWRITTEN_GRACE_MS = 10_000;

const held = new Set<Lock>();

/** A held lock. */
export class Lock {
  readonly path: string;
  readonly holder: LockHolder;
  #released = false;

  constructor(path: string, holder: LockHolder) {
    this.path = path;
    this.holder = holder;
  }

  /** Removes the lock file (if it is still ours). Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    const now = readLockHolder(this.path);
    if (now && now.pid === this.holder.pid && now.time === this.holder.time && now.host === this.holder.host)
      rmSync(this.path, { force: true });
    if (!held.size) unwatchExit();
  }
}

/** The holder recorded in a lock file; null when there is no lock file or it has no readable contents yet. */
export function readLockHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.time === 'string' ? (h as LockHolder) : null;
  } catch {
    return null;
  }
}

/** Whether a pid is a live process on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ageMs(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? Date.now() - st.mtimeMs : 0;
}

/** Whether the lock at `path` (holder `h`, possibly unreadable) is left by a dead process. */
function isStale(path: string, h: LockHolder | null): boolean {
  if (!h) return ageMs(path) > UNWRITTEN_GRACE_MS;
  return h.host === hostname() && h.pid !== process.pid && !processAlive(h.pid);
}

/** Removes a stale lock; one process at a time (a `.takeover` file guards the check-and-remove). */
function removeStale(path: string): void {
  const guard = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx');
  } catch {
    if (ageMs(guard) > UNWRITTEN_GRACE_MS) rmSync(guard, { force: true }); // a taker that died in between
    return;
  }
  try {
    closeSync(fd);
    if (isStale(path, readLockHolder(path))) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/** One attempt: the Lock when taken, else the live holder (null when it is unknown: a lock being written). */
export function tryLock(path: string, o: Pick<LockOptions, 'purpose'> = {}): Lock | { holder: LockHolder | null } {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      time: new Date().toISOString(),
      ...(o.purpose && { purpose: o.purpose }),
    };
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const h = readLockHolder(path);
      if (!isStale(path, h)) return { holder: h };
      removeStale(path);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(holder));
    } finally {
      closeSync(fd);
    }
    const lock = new Lock(path, holder);
    held.add(lock);
    watchExit();
    return lock;
  }
  return { holder: readLockHolder(path) };
}

function lockedError(path: string, h: LockHolder | null, o: LockOptions): I3DError {
  const what = o.what ?? dirname(path);
  const by = h
    ? `process ${h.pid}${h.host === hostname() ? '' : ` on ${h.host}`} (${h.purpose ? `${h.purpose}, ` : ''}since ${h.time})`
    : 'another process';
  const waited = o.waitMs ? ` (waited ${Math.round(o.waitMs / 1000)} s)` : '';
  return new I3DError(
    'I3D_LOCKED',
    `${what} is in use by ${by}${waited}; wait for it to finish or use another folder (if that process is gone, delete ${path})`,
  );
}

/**
 * Takes the lock at `path`, blocking this thread up to `waitMs` (default 0: fail at once) for a live holder; then
 * I3D_LOCKED. For short critical sections in synchronous code (a manifest merge); prefer lock() elsewhere.
 */
export function lockSync(path: string, o: LockOptions = {}): Lock {
  const deadline = Date.now() + (o.waitMs ?? 0);
  let pause = 5;
  for (;;) {
    const r = tryLock(path, o);
    if (r instanceof Lock) return r;
    if (Date.now() >= deadline) throw lockedError(path, r.holder, o);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 100);
  }
}

/** Takes the lock at `path`, waiting up to `waitMs` for a live holder; then I3D_LOCKED. */
export async function lock(path: string, o: LockOptions = {}): Promise<Lock> {
  const deadline = Date.now() + (o.waitMs ?? 0);
  let pause = 20;
  for (;;) {
    const r = tryLock(path, o);
    if (r instanceof Lock) return r;
    if (Date.now() >= deadline) throw lockedError(path, r.holder, o);
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 500);
  }
}

/** Runs `fn` holding the lock at `path`; released however `fn` ends. */
export async function withLock<T>(path: string, o: LockOptions, fn: () => Promise<T> | T): Promise<T> {
  const l = await lock(path, o);
  try {
    return await fn();
  } finally {
    l.release();
  }
}

// Release at exit: 'exit' covers a normal end and process.exit(); the signals' default action would skip it, so
// while locks are held a handler releases them and re-raises the signal when nobody else listens for it.
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let watching = false;

function releaseAll(): void {
  for (const l of [...held]) l.release();
}

function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  unwatchExit();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.on('exit', releaseAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function unwatchExit(): void {
  if (!watching) return;
  watching = false;
  process.off('exit', releaseAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}
