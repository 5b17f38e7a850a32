// Client-side strings in the page's language. The server renders them from the Babel catalogs into
// <script type="application/json" data-i18n> elements (data, not code, so the CSP allows them);
// this module merges every such element once and looks keys up.

let catalog = null;

function load() {
  catalog = {};
  for (const element of document.querySelectorAll('script[type="application/json"][data-i18n]')) {
    try {
      Object.assign(catalog, JSON.parse(element.textContent));
    } catch (error) {
      console.error("unreadable i18n data element", error);
    }
  }
  return catalog;
}

/** The string for `key` with {name} placeholders filled from `params`; the key itself when missing. */
export function t(key, params = {}) {
  const text = (catalog || load())[key];
  if (text === undefined) {
    console.warn(`missing client string: ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** The page's language as a BCP 47 tag ("zh-CN" or "en"), for Intl formatters. */
export const lang = document.documentElement.lang || "zh-CN";

/** True when the page has a string for `key`. */
export function has(key) {
  return (catalog || load())[key] !== undefined;
}

/** An API item's name in the page's language: `name_en` on English pages, else `name` (Chinese). */
export function localName(item) {
  if (!item) return "";
  return lang.startsWith("en") && item.name_en ? item.name_en : item.name;
}
