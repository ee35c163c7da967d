/* geodispatch dispatcher map: what each live layer looks like and how it asks for data.
 * folium builds the page and the L.realtime layers; they call the GD.* functions by name.
 * Every layer asks /v1/map/<layer> with the view's filters (day, region, technician: kept in
 * the URL) and box, and refreshes every few seconds without a reload. */
window.GD = (function () {
  "use strict";
  let config = null;
  const data = {};
  const errors = {};

  const STATUS_COLOURS = {
    new: "#8e44ad", scheduled: "#2f80ed", dispatched: "#1abc9c", en_route: "#f2994a",
    on_site: "#e2b93b", completed: "#27ae60", confirmed: "#219653", settled: "#6fcf97",
    cancelled: "#9e9e9e", failed: "#4f4f4f",
  };
  const STATE_COLOURS = { idle: "#2f80ed", en_route: "#f2994a", on_site: "#27ae60", off_shift: "#9e9e9e" };
  const COEFFICIENT_STEPS = [
    [0.85, "#e8f1fa"], [0.95, "#c6dbef"], [1.05, "#9ecae1"], [1.15, "#6baed6"],
    [1.25, "#3182bd"], [Infinity, "#08519c"],
  ];
  const ROUTE_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
    "#f032e6", "#469990", "#9a6324", "#800000", "#808000", "#000075"];
  const RADIUS = { normal: 5, urgent: 7, emergency: 9 };

  const TEXT = {
    en: {
      coefficient: "coefficient", surge: "surge", open: "open", available: "available",
      none: "no technician available", orders: "orders", done: "done", working: "working",
      limit: "of", min: "min", seen: "last seen", atBase: "at base (no ping yet)",
      route: "route and stops", skills: "skills", window: "window", eta: "planned arrival",
      stop: "stop", tier: "customer tier", reason: "reason", tickets: "tickets", assigned: "assigned",
      unassigned: "unassigned", onTime: "on time (planned)", km: "km planned",
      spread: "working time spread", busy: "technicians busy", asOf: "as of", unplanned: "not yet planned",
      legendCoef: "payout coefficient", legendTech: "technicians", legendTicket: "tickets",
      late: "late", atRisk: "at risk", failed: "could not refresh", states: {
        idle: "idle", en_route: "en route", on_site: "on site", off_shift: "off shift" },
      kpiTitle: "The day",
    },
    zh: {
      coefficient: "系数", surge: "供需比", open: "待办", available: "可用技师",
      none: "无可用技师", orders: "工单", done: "已完成", working: "工作", limit: "/",
      min: "分钟", seen: "最后定位", atBase: "在驻地（尚无定位）", route: "路线与站点",
      skills: "技能", window: "时间窗", eta: "计划到达", stop: "站", tier: "客户等级", reason: "原因",
      tickets: "工单", assigned: "已分配", unassigned: "未分配", onTime: "准时率（计划）",
      km: "计划里程 km", spread: "工时差", busy: "出工技师", asOf: "更新于", unplanned: "未排程",
      legendCoef: "结算系数", legendTech: "技师", legendTicket: "工单", late: "迟到",
      atRisk: "有风险", failed: "刷新失败", states: {
        idle: "空闲", en_route: "在途", on_site: "在现场", off_shift: "下班" },
      kpiTitle: "今日概况",
    },
  };

  function cfg() {
    if (config === null) {
      config = JSON.parse(document.getElementById("gd-config").textContent);
    }
    return config;
  }
  function t() { return TEXT[cfg().lang] || TEXT.en; }
  function map() { return window[cfg().wiring.map]; }
  function layer(name) { return window[cfg().wiring.layers[name]]; }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function time(iso) { return iso ? iso.slice(11, 16) : "–"; }

  /* --- filters: the URL is the state ---------------------------------------------------- */
  function filters() {
    const params = new URLSearchParams(window.location.search);
    const out = new URLSearchParams();
    for (const key of ["day", "region", "technician"]) {
      const value = params.get(key) || (key === "day" ? cfg().day : "");
      if (value) out.set(key, value);
    }
    return out;
  }
  /* The view's box in WGS84 for the server's filter, padded by a quarter; on GCJ-02 tiles also by
   * 0.01 degree (about 1 km), more than the datum shift, so nothing at the edge goes missing. */
  function viewBox() {
    const b = map().getBounds().pad(0.25);
    const extra = cfg().tiles_crs === "gcj02" ? 0.01 : 0;
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest() - extra, -180, 180), clamp(b.getSouth() - extra, -90, 90),
      clamp(b.getEast() + extra, -180, 180), clamp(b.getNorth() + extra, -90, 90)]
      .map((v) => v.toFixed(5)).join(",");
  }
  function layerUrl(name) {
    const query = filters();
    if (name !== "kpis") {
      query.set("bbox", viewBox());
      query.set("zoom", String(Math.round(map().getZoom())));
    }
    return `/v1/map/${name}?${query}`;
  }
  // A refresh answered 401 while the page is being left (signing out) must not send the user
  // to the sign-in page for the map instead of where the sign-out leads.
  let leaving = false;
  window.addEventListener("beforeunload", () => { leaving = true; });
  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => {
        if (response.status === 401 && !leaving) {
          window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
        }
        return response.json().then((body) => {
          if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
          return body;
        });
      });
  }
  function showStatus() {
    const failed = Object.entries(errors).filter(([, e]) => e);
    const el = document.getElementById("gd-status");
    if (!el) return;
    el.textContent = failed.length ? `${t().failed}: ${failed.map(([n, e]) => `${n} (${e.message})`).join("; ")}` : "";
    el.classList.toggle("gd-error", failed.length > 0);
  }

  /* leaflet-realtime adds features one by one; a marker cluster clusters far faster when given
   * them all at once, so adds made in one update are queued and handed over together. */
  function batchAdds(group) {
    if (!group || group.gdBatched) return;
    const queued = [];
    group.addLayer = function (added) {
      if (queued.length === 0) queueMicrotask(() => group.addLayers(queued.splice(0)));
      queued.push(added);
      return group;
    };
    group.gdBatched = true;
  }

  function source(name) {
    return function (success, error) {
      if (name === "tickets") batchAdds(window[cfg().wiring.cluster]);
      getJson(layerUrl(name)).then((body) => {
        errors[name] = null;
        success(body);
        data[name] = body;  // after drawing: tests and the benchmark wait for it
        afterData(name, body);
        showStatus();
      }).catch((err) => { errors[name] = err; showStatus(); error(err, err.message); });
    };
  }

  /* --- features ------------------------------------------------------------------------- */
  function featureId(feature) { return feature.id; }

  function coefficientColour(value) {
    const c = parseFloat(value);
    if (Number.isNaN(c)) return "#f0f0f0";
    return COEFFICIENT_STEPS.find(([upTo]) => c < upTo)[1];
  }
  function regionStyle(feature) {
    const zone = feature.properties.level === "zone";
    return { className: "gd-region", color: zone ? "#c0392b" : "#34495e", weight: zone ? 2 : 1,
      dashArray: zone ? "4 3" : null, fillColor: coefficientColour(feature.properties.coefficient),
      fillOpacity: feature.properties.level === "city" ? 0.05 : 0.35 };
  }
  function regionText(p) {
    const name = cfg().lang === "zh" ? p.name_zh : p.name_en;
    const surge = p.surge === null ? t().none : `${t().surge} ${p.surge} (${p.open} ${t().open} / ${p.available} ${t().available})`;
    return `<b>${esc(name)}</b> · ${esc(p.level)}<br>${t().coefficient} ×${esc(p.coefficient || "–")}<br>${esc(surge)}`;
  }
  function onRegion(feature, lyr) { lyr.bindTooltip(() => regionText(lyr.feature.properties), { sticky: true }); }

  function techStyle(p) {
    return { radius: 9, color: "#ffffff", weight: 2, fillColor: STATE_COLOURS[p.state] || "#555",
      fillOpacity: 1 };
  }
  function technicianMarker(feature, latlng) {
    return L.circleMarker(latlng, Object.assign({ className: "gd-tech", pane: "markerPane" },
      techStyle(feature.properties)));
  }
  function techPopup(id, p) {
    const skills = Object.entries(p.skills || {}).map(([k, v]) => `${esc(k)} ${v}`).join(", ");
    const seen = p.is_at_base ? t().atBase : `${t().seen} ${time(p.seen_at)}`;
    const limit = p.limit_min === null ? "–" : p.limit_min;
    const link = `/me/today?technician=${encodeURIComponent(id)}&day=${encodeURIComponent(filters().get("day"))}`;
    return `<b>${esc(p.name)}</b> (${esc(id)}) · ${t().states[p.state] || p.state}<br>` +
      `${t().skills}: ${skills || "–"}<br>${t().orders}: ${p.orders} (${t().done} ${p.done})<br>` +
      `${t().working}: ${p.working_min} ${t().limit} ${limit} ${t().min}<br>${esc(seen)}<br>` +
      `<a href="${link}">${t().route}</a>`;
  }
  function onTechnician(feature, lyr) {
    lyr.bindPopup(() => techPopup(lyr.feature.id, lyr.feature.properties));
    lyr.bindTooltip(() => esc(lyr.feature.properties.name), { direction: "top" });
  }

  function ticketStyle(p) {
    const flagged = p.flag === "late" ? "#d50000" : p.flag === "at_risk" ? "#ff8f00" : "#ffffff";
    return { radius: RADIUS[p.priority] || 5, color: flagged, weight: p.flag ? 3 : 1,
      fillColor: STATUS_COLOURS[p.status] || "#555", fillOpacity: 0.9 };
  }
  function ticketMarker(feature, latlng) {
    return L.circleMarker(latlng, Object.assign({ className: "gd-ticket" }, ticketStyle(feature.properties)));
  }
  function ticketPopup(id, p) {
    const flag = p.flag === "late" ? ` <span class="gd-late">${t().late}</span>` :
      p.flag === "at_risk" ? ` <span class="gd-risk">${t().atRisk}</span>` : "";
    const tier = p.tier ? ` · ${t().tier} ${esc(p.tier)}` : "";
    return `<b>#${esc(id)}</b> ${esc(p.ext)} · ${esc(p.type)} · ${esc(p.priority)}${tier}${flag}<br>` +
      `${esc(p.status)}${p.tech ? ` → ${esc(p.tech)}` : ""}${p.seq ? ` (${t().stop} ${p.seq})` : ""}<br>` +
      `${t().window} ${esc(p.window || "–")} · ${t().eta} ${esc(p.eta || "–")}<br>` +
      `<span class="gd-address" data-ticket="${esc(id)}">…</span>`;
  }
  /* The address is not in the layer (10,000 of them would triple its size): fetch it on open. */
  function onTicket(feature, lyr) {
    lyr.bindPopup(() => ticketPopup(lyr.feature.id, lyr.feature.properties));
    lyr.on("popupopen", (event) => {
      getJson(`/v1/tickets/${encodeURIComponent(lyr.feature.id)}`).then((ticket) => {
        const span = event.popup.getElement().querySelector(".gd-address");
        if (span) span.textContent = ticket.address;
      }).catch(() => {});
    });
  }

  function unassignedMarker(feature, latlng) {
    const icon = L.divIcon({ className: "gd-unassigned", html: "!", iconSize: [22, 22] });
    return L.marker(latlng, { icon: icon, zIndexOffset: 500 });
  }
  function onUnassigned(feature, lyr) {
    lyr.bindPopup(() => {
      const p = lyr.feature.properties;
      return `<b>${esc(p.ext)}</b> · ${esc(p.priority)}<br>${t().reason}: <b>${esc(p.reason)}</b><br>${esc(p.message)}<br>${esc(p.address)}`;
    });
  }

  function routeColour(tech) {
    let h = 0;
    for (const ch of tech || "") h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return ROUTE_COLOURS[h % ROUTE_COLOURS.length];
  }
  function routeStyle(feature) {
    return { className: "gd-route", color: routeColour(feature.properties.tech), weight: 3, opacity: 0.8 };
  }
  /* The stop's number sits above and to the right of the ticket, so its colour stays visible. */
  function stopIcon(seq) {
    return L.divIcon({ className: "gd-stop", html: String(seq), iconSize: [16, 16], iconAnchor: [-3, 19] });
  }
  function stopMarker(feature, latlng) {
    const icon = stopIcon(feature.properties.seq);
    return L.marker(latlng, { icon: icon, interactive: true });
  }
  function onRouteFeature(feature, lyr) {
    if (feature.geometry.type === "Point") {
      lyr.bindTooltip(() => {
        const p = lyr.feature.properties;
        return `${esc(p.tech)} · ${t().stop} ${p.seq} · ${esc(p.ext)} · ${t().eta} ${esc(p.eta || "–")}`;
      });
    } else {
      lyr.bindTooltip(() => `${esc(lyr.feature.properties.tech)}: ${lyr.feature.properties.stops} ${t().tickets}`, { sticky: true });
    }
  }

  /* Points move and recolour in place (an open popup stays open); other shapes are redrawn. */
  function updateFeature(feature, oldLayer) {
    if (!oldLayer) return undefined;
    if (feature.geometry.type !== "Point" || !oldLayer.setLatLng) return undefined;
    const [lon, lat] = feature.geometry.coordinates;
    oldLayer.setLatLng([lat, lon]);
    oldLayer.feature = feature;
    if (oldLayer.setStyle) {
      const p = feature.properties;
      oldLayer.setStyle(p.state !== undefined ? techStyle(p) : ticketStyle(p));
    }
    if (oldLayer.setIcon && feature.properties.seq !== undefined && oldLayer.options.icon.options.className === "gd-stop") {
      oldLayer.setIcon(stopIcon(feature.properties.seq));
    }
    if (oldLayer.isPopupOpen && oldLayer.isPopupOpen()) oldLayer.getPopup().update();
    return oldLayer;
  }

  /* --- heat, KPIs, legend ---------------------------------------------------------------- */
  let fitted = false;
  /* The first time the day's tickets arrive, zoom to them (a dispatcher opens the map to work). */
  function fitOnce(body) {
    if (fitted || body.features.length === 0) return;
    fitted = true;
    const bounds = L.latLngBounds(body.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]));
    map().fitBounds(bounds.pad(0.1), { maxZoom: 14 });
  }
  function afterData(name, body) {
    if (name === "tickets") {
      fitOnce(body);
      const heat = window[cfg().wiring.heat];
      const open = body.features.filter((f) => ["new", "scheduled", "dispatched", "en_route", "on_site"].includes(f.properties.status));
      if (heat) heat.setLatLngs(open.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0], 1]));
    }
    if (name === "regions") fillRegionChoices(body);
  }
  function fillRegionChoices(body) {
    const select = document.querySelector("#gd-filters select[name=region]");
    if (!select || select.options.length > 1) return;
    const current = filters().get("region") || "";
    const names = body.features.filter((f) => f.properties.level !== "city")
      .map((f) => [f.id, cfg().lang === "zh" ? f.properties.name_zh : f.properties.name_en])
      .sort((a, b) => a[1].localeCompare(b[1]));
    for (const [id, label] of names) select.add(new Option(label, id, false, id === current));
    if (current && !names.some(([id]) => id === current)) select.add(new Option(current, current, true, true));
  }
  let kpisOpen = null;  // a phone starts with the panel folded; a re-render keeps the choice
  function renderKpis(k) {
    const el = document.getElementById("gd-kpis");
    const rate = k.on_time_rate === null ? "–" : `${Math.round(k.on_time_rate * 1000) / 10} %`;
    const reasons = Object.entries(k.unassigned_by_reason).map(([r, n]) => `<li>${esc(r)}: ${n}</li>`).join("");
    const spread = k.working_min.range === null ? "–" : `${k.working_min.min}–${k.working_min.max} ${t().min}`;
    if (kpisOpen === null) kpisOpen = !window.matchMedia("(max-width: 640px)").matches;
    el.innerHTML = `<details${kpisOpen ? " open" : ""}><summary>${t().kpiTitle} ${esc(k.day)}</summary><dl>` +
      `<dt>${t().tickets}</dt><dd data-kpi="tickets">${k.tickets}</dd>` +
      `<dt>${t().assigned}</dt><dd data-kpi="assigned">${k.assigned}</dd>` +
      `<dt>${t().unassigned}</dt><dd data-kpi="unassigned">${k.unassigned}</dd>` +
      `<dt>${t().unplanned}</dt><dd data-kpi="unplanned">${k.unplanned}</dd>` +
      `<dt>${t().onTime}</dt><dd data-kpi="on_time_rate">${rate}</dd>` +
      `<dt>${t().km}</dt><dd data-kpi="travel_km">${k.travel_km}</dd>` +
      `<dt>${t().spread}</dt><dd data-kpi="spread">${spread}</dd>` +
      `<dt>${t().busy}</dt><dd>${k.technicians_busy}</dd></dl>` +
      (reasons ? `<ul class="gd-reasons">${reasons}</ul>` : "") +
      `<p class="gd-asof">${t().asOf} ${esc(k.as_of.slice(11, 19))}</p></details>`;
    el.querySelector("details").addEventListener("toggle", (e) => { kpisOpen = e.target.open; });
  }
  function refreshKpis() {
    getJson(layerUrl("kpis")).then((k) => { errors.kpis = null; renderKpis(k); showStatus(); })
      .catch((err) => { errors.kpis = err; showStatus(); });
  }
  function renderLegend() {
    const swatch = (colour, label, round) => `<li><i style="background:${colour}${round ? ";border-radius:50%" : ""}"></i>${esc(label)}</li>`;
    const coef = COEFFICIENT_STEPS.map(([upTo, colour], i) => {
      const low = i === 0 ? "<" : `${COEFFICIENT_STEPS[i - 1][0]}–`;
      return swatch(colour, upTo === Infinity ? `≥ ${COEFFICIENT_STEPS[i - 1][0]}` : `${low}${upTo}`);
    }).join("");
    const states = Object.entries(STATE_COLOURS).map(([s, c]) => swatch(c, t().states[s], true)).join("");
    const statuses = ["new", "scheduled", "dispatched", "en_route", "on_site", "completed"]
      .map((s) => swatch(STATUS_COLOURS[s], s, true)).join("");
    document.getElementById("gd-legend").innerHTML =
      `<details open><summary>${t().legendCoef}</summary><ul>${coef}</ul></details>` +
      `<details><summary>${t().legendTech}</summary><ul>${states}</ul></details>` +
      `<details><summary>${t().legendTicket}</summary><ul>${statuses}` +
      `<li><i class="gd-ring late"></i>${t().late}</li><li><i class="gd-ring risk"></i>${t().atRisk}</li></ul></details>`;
  }

  /* --- start ------------------------------------------------------------------------------ */
  function refreshAll() {
    for (const name of Object.keys(cfg().wiring.layers)) {
      const live = layer(name);
      if (live && live.update) live.update();
    }
    refreshKpis();
  }
  function onFilterChange(event) {
    const params = new URLSearchParams(window.location.search);
    const field = event.target;
    if (field.name === "day" && !field.value) return;
    if (field.value) params.set(field.name, field.value.trim()); else params.delete(field.name);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    syncLanguageLink();
    refreshAll();
  }
  /* The language switch keeps the view's filters. */
  function syncLanguageLink() {
    const link = document.querySelector(".gd-lang");
    const params = new URLSearchParams(window.location.search);
    params.set("lang", link.dataset.lang);
    link.href = `${location.pathname}?${params}`;
  }
  function start() {
    renderLegend();
    syncLanguageLink();
    refreshKpis();
    window.setInterval(refreshKpis, cfg().refresh_ms);
    const form = document.getElementById("gd-filters");
    form.addEventListener("change", onFilterChange);
    let moved = null;
    map().on("moveend", () => { window.clearTimeout(moved); moved = window.setTimeout(refreshAll, 250); });
  }

  return {
    source, featureId, updateFeature, regionStyle, onRegion, technicianMarker, onTechnician,
    ticketMarker, onTicket, unassignedMarker, onUnassigned, routeStyle, stopMarker,
    onRouteFeature, start, data, refreshAll, layer,
  };
})();
