"use strict";
// The sandbox's Orca page: refreshes every second, starts sample pipelines and judges manual
// judgments "from Deck" through the fake Orca's control API.
(() => {
  const executions = document.getElementById("executions");
  const activity = document.getElementById("activity");

  async function refresh() {
    const response = await fetch("/_sandbox/ui/view", { cache: "no-store" });
    if (!response.ok) throw new Error("view answered " + response.status);
    const data = await response.json();
    Sandbox.swap(executions, data.executions);
    Sandbox.swap(activity, data.activity);
  }
  const refreshNow = Sandbox.poll(refresh, 1000);

  async function start(button, body) {
    button.disabled = true;
    try {
      const { status, data } = await Sandbox.postJson("/_sandbox/pipelines", body);
      if (status === 200 && data && data.id) {
        Sandbox.toast("Started pipeline " + data.id, "ok");
      } else {
        Sandbox.toast("Could not start: " + ((data && data.error) || "HTTP " + status), "error");
      }
    } catch (err) {
      Sandbox.toast("Could not start: " + err, "error");
    } finally {
      button.disabled = false;
      refreshNow();
    }
  }
  document.getElementById("start-plain").addEventListener("click", (event) => start(event.currentTarget, {}));
  document.getElementById("start-inputs").addEventListener("click",
    (event) => start(event.currentTarget, { judgmentInputs: ["ship", "hold"] }));

  executions.addEventListener("input", (event) => Sandbox.remember(event.target));
  executions.addEventListener("change", (event) => {
    Sandbox.remember(event.target);
    if (event.target.tagName === "SELECT") event.target.blur();
  });
  executions.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT") event.target.blur();
  });

  executions.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-decision]");
    if (!button) return;
    const form = button.closest(".judge");
    const user = form.querySelector("input[name='user']").value.trim();
    const menu = form.querySelector("select[name='input']");
    const body = { decision: button.dataset.decision, user: user || undefined };
    if (menu && menu.value) body.input = menu.value;
    button.disabled = true;
    try {
      const { status, data } = await Sandbox.postJson(
        "/_sandbox/pipelines/" + encodeURIComponent(form.dataset.execution) + "/judge", body);
      if (status === 200) {
        Sandbox.toast("Judged " + body.decision + " in Deck as " + (user || "the default judge"), "ok");
      } else {
        Sandbox.toast("Judgment refused: " + ((data && data.error) || "HTTP " + status), "error");
      }
    } catch (err) {
      Sandbox.toast("Judgment failed: " + err, "error");
    } finally {
      button.disabled = false;
      refreshNow();
    }
  });
})();
