"use strict";
// The sandbox's Slack page: refreshes the channel every second, clicks buttons and menus through
// the sandbox's signed click (`POST /_sandbox/click`), and shows confirm dialogs first.
(() => {
  const channel = document.body.dataset.channel;
  const picker = document.getElementById("user-picker");
  const messages = document.getElementById("messages");
  const sidebar = document.getElementById("sidebar");
  const dialog = document.getElementById("confirm-dialog");

  const params = new URLSearchParams(location.search);
  function pickViewer(wanted) {
    if (!wanted) return false;
    const option = [...picker.options].find((o) => o.value === wanted ||
      o.textContent.split(" ")[0] === wanted);
    if (!option) return false;
    picker.value = option.value;
    return true;
  }
  if (!pickViewer(params.get("as"))) pickViewer(localStorage.getItem("sandbox.viewer"));
  let viewer = picker.value;
  localStorage.setItem("sandbox.viewer", viewer);

  async function refresh() {
    if (!channel) return;
    const url = "/_sandbox/ui/view?channel=" + encodeURIComponent(channel) +
      "&as=" + encodeURIComponent(viewer);
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error("view answered " + response.status);
    const data = await response.json();
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 60;
    Sandbox.swap(sidebar, data.sidebar);
    if (Sandbox.swap(messages, data.messages)) {
      messages.dataset.count = data.count;
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    }
  }
  const refreshNow = Sandbox.poll(refresh, 1000);

  picker.addEventListener("change", () => {
    viewer = picker.value;
    localStorage.setItem("sandbox.viewer", viewer);
    const url = new URL(location.href);
    url.searchParams.set("as", viewer);
    history.replaceState(null, "", url);
    picker.blur();
    refreshNow();
  });

  function confirmFirst(dataset) {
    return new Promise((resolve) => {
      document.getElementById("confirm-title").textContent = dataset.confirmTitle || "Are you sure?";
      document.getElementById("confirm-text").textContent = dataset.confirmText || "";
      const ok = document.getElementById("confirm-ok");
      ok.textContent = dataset.confirmOk || "Yes";
      ok.className = "sk-btn " + (dataset.confirmStyle === "danger" ? "danger" : "primary");
      document.getElementById("confirm-deny").textContent = dataset.confirmDeny || "Cancel";
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
    });
  }

  async function sendClick(el, option) {
    const body = { channel: el.dataset.channel, ts: el.dataset.ts, action: el.dataset.action, user: viewer };
    if (option) body.option = option;
    el.disabled = true;
    try {
      const { status, data } = await Sandbox.postJson("/_sandbox/click", body);
      document.body.dataset.lastClick = data && data.ok ? String(data.status) : "error";
      if (data && data.ok) {
        const detail = data.body ? ": " + String(data.body).slice(0, 200) : "";
        Sandbox.toast("Sent to Reverb as " + picker.selectedOptions[0].textContent.split(" ")[0] +
          "; Reverb answered HTTP " + data.status + detail, data.status < 300 ? "ok" : "error");
      } else {
        Sandbox.toast("Click not sent: " + ((data && data.error) || "HTTP " + status), "error");
      }
    } catch (err) {
      document.body.dataset.lastClick = "error";
      Sandbox.toast("Click failed: " + err, "error");
    } finally {
      el.disabled = false;
      refreshNow();
    }
  }

  // A button click carries the option chosen beforehand in a menu of the same message.
  function chosenOption(el) {
    const message = el.closest(".msg");
    const menu = message && [...message.querySelectorAll("select[data-kind='select']")]
      .find((select) => select.value);
    return menu ? menu.value : null;
  }

  messages.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-kind='button']");
    if (!button || button.disabled) return;
    if (button.dataset.confirm && !(await confirmFirst(button.dataset))) return;
    if (button.dataset.url) window.open(button.dataset.url, "_blank", "noopener");
    await sendClick(button, chosenOption(button));
  });

  messages.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-kind='select']");
    if (!select) return;
    Sandbox.remember(select);
    select.blur();
    if (select.value) sendClick(select, select.value);
  });
})();
