// Calling the JSON API from a page: the session cookie and the page's CSRF token go with the
// request; an answer other than 2xx becomes an Error carrying the API's own message, so that
// the page shows the refusal instead of swallowing it.
"use strict";

window.geodispatchSend = async function (method, url, body, messages) {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
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
};
