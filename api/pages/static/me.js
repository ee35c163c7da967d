// The technician pages: status buttons, the customer's confirmation and the withdrawal form.
// Every change goes to the JSON API through send.js (the session cookie and the page's CSRF
// token); an answer other than 2xx is shown on the page with the API's own message.
"use strict";

(function () {
  const dataNode = document.getElementById("me-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : {};
  const messages = data.messages || {};

  function send(method, url, body) {
    return window.geodispatchSend(method, url, body, messages);
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

  // The procedure's checklist is a record: each tick goes to the API at once (a photo step
  // asks for its photo first, scaled down on the phone so it fits the 1 MiB limit).
  const PHOTO_EDGE = 1280;

  function photoOf(file) {
    return new Promise(function (resolve, reject) {
      const image = new Image();
      image.onload = function () {
        const scale = Math.min(1, PHOTO_EDGE / Math.max(image.width, image.height));
        const canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(image.width * scale));
        canvas.height = Math.max(1, Math.round(image.height * scale));
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(image.src);
        const url = canvas.toDataURL("image/jpeg", 0.8);
        resolve({ photo_base64: url.slice(url.indexOf(",") + 1), photo_media_type: "image/jpeg" });
      };
      image.onerror = function () { reject(new Error(messages.photo || "Not a photo")); };
      image.src = URL.createObjectURL(file);
    });
  }

  function choosePhoto(procedure) {
    const input = procedure.querySelector('[data-role="photo-input"]');
    return new Promise(function (resolve) {
      input.value = "";
      input.onchange = function () { resolve(input.files && input.files[0]); };
      input.click();
    });
  }

  function drawProcedure(procedure, state) {
    const left = procedure.querySelector('[data-role="procedure-left"]');
    const missing = state.missing.length;
    left.textContent = missing ? missing + " " + (messages.toDo || "to do") : (messages.allDone || "all done");
    left.className = "badge " + (missing ? (left.dataset.required === "yes" ? "warn" : "") : "ok");
    state.procedure.items.forEach(function (item) {
      const box = procedure.querySelector('input[data-item="' + CSS.escape(item.item_id) + '"]');
      if (!box) return;
      box.checked = Boolean(item.ticked_at);
      const chip = box.parentElement.querySelector('[data-role="photo-state"]');
      if (chip) chip.textContent = item.has_photo ? messages.photoTaken : messages.photoNeeded;
    });
  }

  document.querySelectorAll('.procedure input[data-item]').forEach(function (box) {
    box.addEventListener("change", async function () {
      const procedure = box.closest(".procedure");
      const stop = box.closest(".stop");
      const error = stop.querySelector('[data-role="error"]');
      const wanted = box.checked;
      const url = "/v1/tickets/" + stop.dataset.ticket + "/checklist/" + encodeURIComponent(box.dataset.item);
      show(error, "");
      box.disabled = true;
      try {
        let body = {};
        if (wanted && box.dataset.photo === "yes") {
          const file = await choosePhoto(procedure);
          if (!file) { box.checked = false; return; }
          body = await photoOf(file);
        }
        drawProcedure(procedure, await send(wanted ? "PUT" : "DELETE", url, wanted ? body : undefined));
      } catch (err) {
        box.checked = !wanted;
        show(error, err.message);
      } finally {
        box.disabled = false;
      }
    });
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
