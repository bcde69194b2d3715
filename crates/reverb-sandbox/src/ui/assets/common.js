"use strict";
// Shared by the sandbox's Slack and Orca pages: polling, swapping server-rendered HTML in place
// (keeping what the user typed or chose), toasts and JSON POSTs.
const Sandbox = (() => {
  const kept = new Map();
  const lastHtml = new WeakMap();

  function localizeTimes(root) {
    root.querySelectorAll("time[data-epoch]").forEach((el) => {
      const secs = Number(el.dataset.epoch);
      if (!Number.isFinite(secs) || secs <= 0) return;
      const when = new Date(secs * 1000);
      el.textContent = when.toLocaleTimeString();
      el.title = when.toString();
    });
  }

  // The user is typing or choosing inside the region: leave it alone until they are done.
  function busy(region) {
    const active = document.activeElement;
    return Boolean(active && active !== document.body && region.contains(active) &&
      ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName));
  }

  function remember(el) {
    if (el && el.dataset && el.dataset.keep) kept.set(el.dataset.keep, el.value);
  }

  function restore(region) {
    region.querySelectorAll("[data-keep]").forEach((el) => {
      if (!kept.has(el.dataset.keep)) return;
      const value = kept.get(el.dataset.keep);
      if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === value)) return;
      el.value = value;
    });
  }

  // Replaces the region's content when the server's HTML changed; true when it did.
  function swap(region, html) {
    if (lastHtml.get(region) === html || busy(region)) return false;
    region.innerHTML = html;
    lastHtml.set(region, html);
    restore(region);
    localizeTimes(region);
    return true;
  }

  let toastTimer = null;
  function toast(text, kind) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = "toast" + (kind ? " " + kind : "");
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { status: response.status, data };
  }

  // Runs `refresh` now and then every `intervalMs`, never two at once; shows a banner while
  // the sandbox cannot be reached.
  function poll(refresh, intervalMs) {
    let running = false;
    const banner = document.getElementById("offline");
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        await refresh();
        if (banner) banner.hidden = true;
      } catch (err) {
        if (banner) banner.hidden = false;
      } finally {
        running = false;
      }
    };
    tick();
    setInterval(tick, intervalMs);
    return tick;
  }

  localizeTimes(document);
  return { localizeTimes, busy, remember, swap, toast, postJson, poll };
})();
