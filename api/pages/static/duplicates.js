// The /customers/duplicates page: merge, refuse, and undo a merge, through the JSON API.
// Each change goes through send.js (the session cookie and the page's CSRF token); an answer
// other than 2xx is shown on the pair with the API's own message, and the buttons come back.
"use strict";

(function () {
  const dataNode = document.getElementById("duplicates-data");
  const messages = dataNode ? JSON.parse(dataNode.textContent) : {};

  function post(url) {
    return window.geodispatchSend("POST", url, {}, messages);
  }

  function show(node, text) {
    node.textContent = text;
    node.hidden = !text;
  }

  function settle(pair, outcomeText, undo) {
    const decision = pair.querySelector('[data-role="decision"]');
    decision.replaceChildren();
    if (undo) decision.appendChild(undo);
    show(pair.querySelector('[data-role="outcome"]'), outcomeText);
    pair.dataset.state = undo ? "merged" : "decided";
  }

  function undoButton(pair, mergeId) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.dataset.action = "unmerge";
    button.textContent = messages.undo || "Undo";
    button.addEventListener("click", function () {
      act(pair, button, "/v1/customers/merges/" + mergeId + "/unmerge", function () {
        settle(pair, messages.unmerged || "Undone", null);
      });
    });
    return button;
  }

  async function act(pair, button, url, done) {
    const error = pair.querySelector('[data-role="error"]');
    show(error, "");
    pair.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      done(await post(url));
    } catch (err) {
      show(error, err.message);
      pair.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  }

  document.querySelectorAll("[data-suggestion]").forEach(function (pair) {
    const id = pair.dataset.suggestion;
    const base = "/v1/customers/merge-suggestions/" + id;
    pair.querySelector('[data-action="accept"]').addEventListener("click", function (event) {
      act(pair, event.currentTarget, base + "/accept", function (merge) {
        const text = (messages.merged || "Merged").replace("{survivor}", merge.survivor_id);
        settle(pair, text, undoButton(pair, merge.id));
      });
    });
    pair.querySelector('[data-action="refuse"]').addEventListener("click", function (event) {
      act(pair, event.currentTarget, base + "/refuse", function () {
        settle(pair, messages.refused || "Refused", null);
      });
    });
  });
})();
