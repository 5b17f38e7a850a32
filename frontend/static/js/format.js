// Dates, times and amounts as the pages show them: Beijing time (Asia/Shanghai) and yuan.
import { lang } from "./i18n.js";

const TIME_ZONE = "Asia/Shanghai";
// Parts in Beijing time, assembled as YYYY-MM-DD HH:MM in every language (the server's
// `shanghai_time` filter writes the same), so server- and browser-rendered times look alike.
const parts = new Intl.DateTimeFormat("en-CA", {
  timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});
const integer = new Intl.NumberFormat(lang);

function shanghaiParts(date) {
  return Object.fromEntries(parts.formatToParts(date).map((part) => [part.type, part.value]));
}

/** A Date from an API timestamp; one without an offset is UTC (as the server stores it). */
export function parseTimestamp(value) {
  if (value instanceof Date) return value;
  if (typeof value !== "string" || !value) return null;
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(value);
  const date = new Date(hasZone || value.length <= 10 ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-03-02 14:05" in Beijing time; "—" for nothing. */
export function formatDateTime(value) {
  const date = parseTimestamp(value);
  if (!date) return "—";
  const p = shanghaiParts(date);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** "2026-03-02": the calendar day in Beijing. */
export function formatDate(value) {
  const date = parseTimestamp(value);
  if (!date) return "—";
  const p = shanghaiParts(date);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Integer fen as yuan: ¥1,234,567.89, computed on integers (no floating-point cents). */
export function formatYuan(fen) {
  if (fen === null || fen === undefined || fen === "") return "—";
  const value = BigInt(fen);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const cents = (abs % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}¥${whole}.${cents}`;
}

export function formatNumber(value) {
  return integer.format(value);
}
