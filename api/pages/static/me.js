// The technician pages: status buttons, the customer's confirmation and the withdrawal form.
// Every change goes to the JSON API with the session cookie and the page's CSRF token; an
// answer other than 2xx is shown on the page with the API's own message, never swallowed.
"use strict";

(function () {
  const dataNode = document.getElementById("me-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : {};
  const messages = data.messages || {};
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function send(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(messages.network || "Network error");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = null;
    }
    if (!response.ok) {
      const error = payload && payload.error;
      const text = error && error.message ? error.message : response.status + " " + response.statusText;
      throw new Error((messages.failed ? messages.failed + " " : "") + text);
    }
    return payload;
  }

  function show(node, text) {
    if (!node) return;
    node.textContent = text;
    node.hidden = !text;
  }

  function busy(container, isBusy) {
    container.querySelectorAll("button").forEach(function (b) { b.disabled = isBusy; });
  }

  // ----- /me/today -----

  function drawStop(stop, status) {
    stop.dataset.status = status;
    const badge = stop.querySelector('[data-role="status"]');
    if (badge) {
      badge.textContent = (data.statusLabels || {})[status] || status;
      badge.className = "badge status status-" + status;
    }
    const moves = (data.actions || {})[status] || [];
    const actions = stop.querySelector('[data-role="actions"]');
    if (actions) {
      actions.replaceChildren();
      moves.filter(function (to) { return to !== "confirmed"; }).forEach(function (to) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "act " + (to === "failed" ? "secondary" : "primary");
        button.dataset.to = to;
        button.textContent = (data.actionLabels || {})[to] || to;
        actions.appendChild(button);
      });
    }
    const confirm = stop.querySelector('[data-role="confirm"]');
    if (confirm) confirm.hidden = moves.indexOf("confirmed") < 0;
  }

  async function move(stop, body) {
    const error = stop.querySelector('[data-role="error"]');
    show(error, "");
    busy(stop, true);
    try {
      const ticket = await send("POST", "/v1/tickets/" + stop.dataset.ticket + "/transitions", body);
      drawStop(stop, ticket.status);
      if (body.to === "confirmed") {
        // The confirmation settles the job: reload so it moves to the finished list with what
        // it paid, and the day's total follows.
        window.location.reload();
      }
    } catch (err) {
      show(error, err.message);
    } finally {
      busy(stop, false);
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.act[data-to]");
    if (!button) return;
    const stop = button.closest(".stop");
    const to = button.dataset.to;
    if (to === "failed" && !window.confirm(messages.confirmFailed || "Sure?")) return;
    move(stop, { to: to });
  });

  document.querySelectorAll('form[data-role="confirm"]').forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const stop = form.closest(".stop");
      const name = form.elements.signer_name.value.trim();
      if (!name) {
        show(stop.querySelector('[data-role="error"]'), messages.signer || "Name?");
        return;
      }
      const body = { to: "confirmed", signature: { signer_name: name, signed_at: new Date().toISOString() } };
      const rating = form.elements.rating.value;
      if (rating) body.rating = Number(rating);
      move(stop, body);
    });
  });

  // Ticks of the parts checklist stay on this device (they are a reminder, not a record).
  document.querySelectorAll(".stop input[data-check]").forEach(function (box) {
    const stop = box.closest(".stop");
    const key = "gd-check:" + stop.dataset.ticket + ":" + box.dataset.check;
    try {
      box.checked = window.localStorage.getItem(key) === "1";
      box.addEventListener("change", function () {
        window.localStorage.setItem(key, box.checked ? "1" : "0");
      });
    } catch (err) {
      // storage may be off (private mode): the boxes still tick, they are just not kept
    }
  });

  // ----- /me/earnings -----

  const withdraw = document.getElementById("withdraw");
  if (withdraw) {
    withdraw.addEventListener("submit", async function (event) {
      event.preventDefault();
      const error = withdraw.querySelector('[data-role="error"]');
      const done = withdraw.querySelector('[data-role="done"]');
      const balance = document.getElementById("balance");
      show(error, "");
      show(done, "");
      busy(withdraw, true);
      const body = {
        amount: { amount: withdraw.elements.amount.value.trim(), currency: balance.dataset.currency },
        memo: withdraw.elements.memo.value.trim(),
      };
      try {
        const result = await send("POST", "/v1/earnings/" + encodeURIComponent(withdraw.dataset.technician) + "/withdrawals", body);
        const sign = result.balance.currency === "CNY" ? "¥" : result.balance.currency + " ";
        balance.textContent = sign + result.balance.amount;
        show(done, (messages.done || "Done.") + " " + sign + result.balance.amount);
        withdraw.reset();
      } catch (err) {
        show(error, err.message);
      } finally {
        busy(withdraw, false);
      }
    });
  }
})();
