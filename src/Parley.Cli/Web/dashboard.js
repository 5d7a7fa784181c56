/*
 * Parley live dashboard — plain ES2020, no dependencies; uses common.js (window.ParleyWeb)
 * for the connection, login form, status bar and notice it shares with the chat page.
 *
 * Served at /dashboard. Logs in over the chat protocol at ws(s)://same-host/ws exactly like the
 * chat page (chat.js): in "open" mode the server sends login_successful at once, in "required"
 * mode the page asks for a user name and password (kept in memory only) and sends `login`.
 * Then it sends {"_ct":"watch_metrics"}; the server answers with one `metrics_history`
 * (up to 300 samples, oldest first) and pushes a `metrics` event every second.
 *
 *   status       connecting | connected | reconnecting | login | unavailable, mirrored in
 *                #status[data-state]. "unavailable": the server refused watch_metrics.
 *   samples      the samples as received (at most 300, oldest first); `points` holds the same
 *                samples parsed for drawing (time in ms, values in display units).
 *   time axis    the last 5 minutes of the *server's* clock: the newest sample's `t` minus the
 *                local time it arrived gives an offset, so a client clock that is off does not
 *                push the data out of the window, and during an outage the lines keep sliding
 *                left, leaving a visible gap.
 *   reconnect    0.5 s · 2^attempt, at most 15 s, ±25 % jitter; log in again with the
 *                in-memory credentials and send watch_metrics again; its history replaces the data.
 */
'use strict';

(() => {
  // ---------------------------------------------------------------- constants
  const MAX_POINTS = 300;
  const WINDOW_MS = 5 * 60_000;
  const STALE_MS = 5_000;            // no sample for this long: values are shown as stale
  const MIB = 1024 * 1024;

  // ---------------------------------------------------------------- DOM
  const { h, byId: $ } = ParleyWeb;
  const dom = {
    ...ParleyWeb.commonDom(),
    version: $('version'),
    unavailable: $('unavailable'), unavailableText: $('unavailable-text'),
    dashboard: $('dashboard'), empty: $('empty'), tooltip: $('tooltip'),
  };

  // ---------------------------------------------------------------- state
  const S = {
    config: { auth: 'open', version: '' },
    configLoaded: false,
    creds: null,              // {u, p}: memory only
    status: 'connecting',
    reconnectReason: '',
    ws: null,
    attempt: 0,
    reconnectAt: 0,
    timers: { reconnect: 0, countdown: 0, ping: 0, connect: 0, notice: 0 },
    awaitingPong: false,
    loggedInOnce: false,
    samples: [],              // as received
    points: [],               // parsed, same order and length as samples
    interval: 1,              // seconds between samples
    clockOffset: 0,           // server time − local time, ms
    lastSampleAt: 0,          // local time the newest sample arrived
    lastDraw: 0,
  };

  // ---------------------------------------------------------------- number formatting

  /** A value for people: whole numbers from 100, else three significant digits; M above a million. */
  function fmt(v) {
    if (v == null || !Number.isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e6) return `${trimNum(v / 1e6)}M`;
    if (a >= 100) return String(Math.round(v));
    if (a === 0) return '0';
    return trimNum(v);
  }
  function trimNum(v) { return String(Number(v.toPrecision(3))); }

  /** An axis label for a tick value, with as many decimals as the step needs. */
  function fmtTick(v, step) {
    let div = 1;
    let suffix = '';
    if (step >= 1e6) { div = 1e6; suffix = 'M'; } else if (step >= 1000) { div = 1000; suffix = 'k'; }
    const s = step / div;
    if (v === 0) return '0';
    let decimals = 0;
    while (decimals < 6 && Math.abs(Math.round(s * 10 ** decimals) - s * 10 ** decimals) > 1e-6) decimals++;
    return `${(v / div).toFixed(decimals)}${suffix}`;
  }

  function pad2(n) { return String(n).padStart(2, '0'); }
  /** Server time (ms) → local wall clock label; the axis shows local time of day. */
  function clock(ms, seconds) {
    const d = new Date(ms - S.clockOffset);
    return seconds ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}` : `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  }

  // ---------------------------------------------------------------- charts

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const scaled = (v, k) => { const n = num(v); return n == null ? null : n * k; };

  /**
   * Each chart: series (id, label, colour variable, swatch class), the unit shown after values, whether
   * the axis counts whole things, and the smallest top of the y axis (so a flat zero line is not alone).
   */
  const CHARTS = [
    {
      key: 'connections', unit: '', integer: true, minTop: 4, fill: false,
      series: [
        { id: 'tcp', label: 'TCP', color: '--series-1', swatch: 's1' },
        { id: 'ws', label: 'WebSocket', color: '--series-2', swatch: 's2' },
        { id: 'ipc', label: 'IPC', color: '--series-3', swatch: 's3' },
      ],
    },
    { key: 'stored', unit: '/s', minTop: 4, fill: true, series: [{ id: 'stored', label: 'Stored', color: '--series-1', swatch: 's1' }] },
    { key: 'delivered', unit: '/s', minTop: 4, fill: true, series: [{ id: 'delivered', label: 'Delivered', color: '--series-1', swatch: 's1' }] },
    { key: 'slow', unit: '/s', minTop: 4, fill: true, series: [{ id: 'slow', label: 'Drops', color: '--series-4', swatch: 's4' }] },
    {
      key: 'commit', unit: 'ms', minTop: 2, fill: false, nullText: 'no commit',
      series: [
        { id: 'p50', label: 'p50', color: '--series-1', swatch: 's1' },
        { id: 'p99', label: 'p99', color: '--series-4', swatch: 's4' },
      ],
    },
    { key: 'rss', unit: 'MiB', minTop: 16, fill: true, series: [{ id: 'rss', label: 'RSS', color: '--series-1', swatch: 's1' }] },
    { key: 'cpu', unit: '%', minTop: 10, fill: true, series: [{ id: 'cpu', label: 'CPU', color: '--series-1', swatch: 's1' }] },
  ];

  function parseSample(s, prev) {
    let ts = Date.parse(s.t);
    if (!Number.isFinite(ts)) ts = prev ? prev.ts + S.interval * 1000 : Date.now() + S.clockOffset;
    const conn = s.conn && typeof s.conn === 'object' ? s.conn : {};
    return {
      ts,
      tcp: num(conn.tcp), ws: num(conn.ws), ipc: num(conn.ipc),
      stored: num(s.stored), delivered: num(s.delivered), slow: num(s.slow),
      p50: scaled(s.commit_p50, 1000), p99: scaled(s.commit_p99, 1000),
      rss: scaled(s.rss, 1 / MIB), cpu: num(s.cpu),
    };
  }

  const charts = CHARTS.map((def) => {
    const root = document.querySelector(`[data-chart="${def.key}"]`);
    const canvas = root.querySelector('canvas');
    return {
      def, root, canvas,
      plot: canvas.parentElement,
      valueEl: root.querySelector('.value'),
      legendEls: new Map([...root.querySelectorAll('.legend-value')].map((el) => [el.dataset.series, el])),
      cssW: 0, cssH: 0, dpr: 1,
      hover: null,            // {x, clientX, clientY} while the pointer is over the canvas
      layout: null,           // the last draw's geometry, for hit-testing
    };
  });

  let colors = {};
  let fontFamily = 'sans-serif';
  function readTheme() {
    const cs = getComputedStyle(document.documentElement);
    const get = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
    colors = {
      text: get('--text', '#1d1f23'), muted: get('--axis', '#5d6570'), grid: get('--grid', '#e6e9ed'),
      border: get('--border', '#d9dde3'), crosshair: get('--crosshair', 'rgba(0,0,0,0.3)'), bg: get('--bg', '#fff'),
      '--series-1': get('--series-1', '#2563c9'), '--series-2': get('--series-2', '#c2410c'),
      '--series-3': get('--series-3', '#15803d'), '--series-4': get('--series-4', '#b42318'),
    };
    fontFamily = get('--font', 'sans-serif');
  }

  /** Fits the canvas backing store to its box and the device pixel ratio. */
  function sizeCanvas(chart) {
    const rect = chart.plot.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width));
    const hgt = Math.max(1, Math.round(rect.height));
    if (w === chart.cssW && hgt === chart.cssH && dpr === chart.dpr) return false;
    chart.cssW = w; chart.cssH = hgt; chart.dpr = dpr;
    chart.canvas.width = Math.round(w * dpr);
    chart.canvas.height = Math.round(hgt * dpr);
    return true;
  }

  function niceStep(range, target, integer) {
    const raw = range / Math.max(1, target);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const n = raw / mag;
    const m = n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 && mag >= 10 ? 2.5 : n <= 5 ? 5 : 10; // 25, 250 … but not 2.5, 0.25
    let step = m * mag;
    if (integer) step = Math.max(1, Math.round(step));
    return step;
  }

  /** The current right edge of the time axis, in server time. */
  const axisEnd = () => Date.now() + S.clockOffset;
  /** Two samples further apart than this are not joined by a line. */
  const gapMs = () => Math.max(2500, S.interval * 2500);

  function drawChart(chart) {
    const { def, canvas } = chart;
    sizeCanvas(chart);
    const W = chart.cssW;
    const H = chart.cssH;
    if (W < 20 || H < 20) return;
    const ctx = canvas.getContext('2d');
    ctx.setTransform(chart.dpr, 0, 0, chart.dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);

    const t1 = axisEnd();
    const t0 = t1 - WINDOW_MS;
    const pts = S.points;
    let first = 0;
    while (first < pts.length && pts[first].ts < t0 - gapMs()) first++;
    const visible = pts.slice(first);

    // y scale: 0 .. a nice top above the largest visible value
    let max = 0;
    for (const p of visible) for (const s of def.series) { const v = p[s.id]; if (v != null && v > max) max = v; }
    const top0 = Math.max(def.minTop, max * 1.08);
    const fontPx = 11;
    ctx.font = `${fontPx}px ${fontFamily}`;
    const bottomPad = fontPx + 9;
    const topPad = 8;
    const plotH = H - topPad - bottomPad;
    const step = niceStep(top0, Math.max(2, Math.min(5, Math.floor(plotH / 38))), def.integer);
    const top = Math.ceil(top0 / step - 1e-9) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
    const labels = ticks.map((v) => fmtTick(v, step));
    const labelW = Math.max(...labels.map((l) => ctx.measureText(l).width));
    const left = Math.ceil(labelW) + 8;
    const right = 10;
    const plotW = W - left - right;
    if (plotW < 20 || plotH < 20) return;
    const x = (ts) => left + ((ts - t0) / WINDOW_MS) * plotW;
    const y = (v) => topPad + plotH - (v / top) * plotH;
    chart.layout = { left, plotW, topPad, plotH, t0, t1, x, y };

    // grid and y labels
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    ticks.forEach((v, i) => {
      const yy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = i === 0 ? colors.border : colors.grid;
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(left + plotW, yy); ctx.stroke();
      ctx.fillStyle = colors.muted;
      ctx.fillText(labels[i], left - 6, yy);
    });

    // time axis: a label at each whole minute (every other one when narrow), "now" not labelled
    ctx.textBaseline = 'top';
    ctx.textAlign = 'center';
    const everyMin = plotW < 230 ? 2 : 1;
    const localT0 = t0 - S.clockOffset;
    const minute = 60_000;
    for (let lt = Math.ceil(localT0 / minute) * minute; lt <= t1 - S.clockOffset; lt += minute) {
      const ts = lt + S.clockOffset;
      const xx = Math.round(x(ts)) + 0.5;
      const d = new Date(lt);
      ctx.strokeStyle = colors.grid;
      ctx.beginPath(); ctx.moveTo(xx, topPad); ctx.lineTo(xx, topPad + plotH + 4); ctx.stroke();
      if (d.getMinutes() % everyMin !== 0) continue;
      const label = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
      const half = ctx.measureText(label).width / 2;
      if (xx - half < left - 4 || xx + half > W) continue;
      ctx.fillStyle = colors.muted;
      ctx.fillText(label, xx, topPad + plotH + 5);
    }

    // series
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, topPad - 2, plotW + 2, plotH + 4);
    ctx.clip();
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    const gap = gapMs();
    for (const s of def.series) {
      const color = colors[s.color];
      const runs = [];
      let run = null;
      let prevTs = -Infinity;
      for (const p of visible) {
        const v = p[s.id];
        if (v == null || p.ts - prevTs > gap) { run = null; }
        if (v != null) {
          if (!run) { run = []; runs.push(run); }
          run.push([x(p.ts), y(v)]);
        }
        prevTs = p.ts;
      }
      if (def.fill) {
        ctx.globalAlpha = 0.14;
        ctx.fillStyle = color;
        for (const r of runs) {
          if (r.length < 2) continue;
          ctx.beginPath();
          ctx.moveTo(r[0][0], y(0));
          for (const [px, py] of r) ctx.lineTo(px, py);
          ctx.lineTo(r[r.length - 1][0], y(0));
          ctx.closePath();
          ctx.fill();
        }
        ctx.globalAlpha = 1;
      }
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 1.75;
      for (const r of runs) {
        if (r.length === 1) {
          ctx.beginPath(); ctx.arc(r[0][0], r[0][1], 1.75, 0, Math.PI * 2); ctx.fill();
          continue;
        }
        ctx.beginPath();
        ctx.moveTo(r[0][0], r[0][1]);
        for (let i = 1; i < r.length; i++) ctx.lineTo(r[i][0], r[i][1]);
        ctx.stroke();
      }
    }
    ctx.restore();

    if (!visible.length) {
      ctx.fillStyle = colors.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(S.status === 'connected' ? 'Waiting for data…' : 'No data', left + plotW / 2, topPad + plotH / 2);
    }

    drawHover(chart, ctx, visible);
  }

  /** The crosshair, dots and tooltip for the sample nearest the pointer. */
  function drawHover(chart, ctx, visible) {
    const L = chart.layout;
    if (!chart.hover || !L) return;
    const { def } = chart;
    const hx = Math.min(Math.max(chart.hover.x, L.left), L.left + L.plotW);
    const ts = L.t0 + ((hx - L.left) / L.plotW) * WINDOW_MS;
    let best = null;
    for (const p of visible) if (!best || Math.abs(p.ts - ts) < Math.abs(best.ts - ts)) best = p;
    if (best && Math.abs(best.ts - ts) > gapMs()) best = null;
    const cx = Math.round(best ? L.x(best.ts) : hx) + 0.5;

    ctx.strokeStyle = colors.crosshair;
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(cx, L.topPad); ctx.lineTo(cx, L.topPad + L.plotH); ctx.stroke();
    if (best) {
      for (const s of def.series) {
        const v = best[s.id];
        if (v == null) continue;
        ctx.fillStyle = colors.bg;
        ctx.strokeStyle = colors[s.color];
        ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(cx, L.y(v), 3.5, 0, Math.PI * 2); ctx.fill(); ctx.stroke();
      }
    }
    showTooltip(chart, best, best ? best.ts : ts);
  }

  function showTooltip(chart, point, ts) {
    const { def } = chart;
    const tip = dom.tooltip;
    tip.replaceChildren(h('div', 'tt-time', clock(ts, true)));
    if (!point) {
      tip.append(h('div', 'tt-row', 'no data'));
    } else {
      for (const s of def.series) {
        const row = h('div', 'tt-row');
        if (def.series.length > 1) row.append(h('span', `swatch ${s.swatch}`));
        row.append(h('span', '', s.label));
        const v = point[s.id];
        row.append(h('b', '', v == null ? (def.nullText || '–') : `${fmt(v)}${def.unit ? ` ${def.unit}` : ''}`));
        tip.append(row);
      }
      if (def.key === 'connections') {
        const total = ['tcp', 'ws', 'ipc'].reduce((a, k) => a + (point[k] || 0), 0);
        const row = h('div', 'tt-row');
        row.append(h('span', '', 'Total'), h('b', '', fmt(total)));
        tip.append(row);
      }
    }
    tip.hidden = false;
    const margin = 12;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    let lx = chart.hover.clientX + margin;
    if (lx + tw > window.innerWidth - 4) lx = chart.hover.clientX - margin - tw;
    lx = Math.max(4, lx);
    let ly = chart.hover.clientY - th - margin;
    if (ly < 4) ly = chart.hover.clientY + margin;
    tip.style.left = `${Math.round(lx)}px`;
    tip.style.top = `${Math.round(ly)}px`;
  }

  function hideTooltip() { dom.tooltip.hidden = true; }

  function drawAll() {
    S.lastDraw = Date.now();
    if (document.hidden || !dom.dashboard.offsetParent) return;
    for (const chart of charts) drawChart(chart);
  }

  // ---------------------------------------------------------------- current values

  function setValue(el, parts) {
    // parts: [text, className?] pairs; spaces are text so the element's text reads naturally.
    el.replaceChildren(...parts.map(([text, cls]) => (cls ? h('span', cls, text) : document.createTextNode(text))));
  }

  function renderValues() {
    const last = S.points.length ? S.points[S.points.length - 1] : null;
    const stale = !last || S.status !== 'connected' || Date.now() - S.lastSampleAt > STALE_MS;
    for (const chart of charts) {
      const { def, valueEl } = chart;
      valueEl.classList.toggle('stale', stale);
      if (!last) {
        valueEl.textContent = '–';
        for (const el of chart.legendEls.values()) el.textContent = '';
        continue;
      }
      const unit = def.unit ? [[' '], [def.unit, 'unit']] : [];
      switch (def.key) {
        case 'connections': {
          const total = (last.tcp || 0) + (last.ws || 0) + (last.ipc || 0);
          setValue(valueEl, [[fmt(total)], [' '], ['total', 'unit']]);
          for (const [id, el] of chart.legendEls) el.textContent = fmt(last[id]);
          break;
        }
        case 'commit':
          if (last.p50 == null && last.p99 == null) setValue(valueEl, [['no commits', 'unit']]);
          else setValue(valueEl, [['p50', 'label'], [' '], [fmt(last.p50)], [' '], ['·', 'sep'], [' '], ['p99', 'label'], [' '], [fmt(last.p99)], ...unit]);
          break;
        default:
          setValue(valueEl, [[fmt(last[def.series[0].id])], ...unit]);
      }
    }
    dom.empty.hidden = S.points.length > 0 || S.status !== 'connected';
  }

  // ---------------------------------------------------------------- data

  function addSample(sample, live) {
    const prev = S.points.length ? S.points[S.points.length - 1] : null;
    const point = parseSample(sample, prev);
    if (prev && point.ts <= prev.ts) {
      if (point.ts !== prev.ts) return; // older than what we hold: a straggler
      S.samples.pop(); S.points.pop();  // the same second again: the newer copy wins
    }
    S.samples.push(sample);
    S.points.push(point);
    if (S.samples.length > MAX_POINTS) {
      S.samples.splice(0, S.samples.length - MAX_POINTS);
      S.points.splice(0, S.points.length - MAX_POINTS);
    }
    if (live) noteArrival(point);
  }

  function noteArrival(point) {
    S.lastSampleAt = Date.now();
    S.clockOffset = point.ts - S.lastSampleAt;
  }

  function onHistory(ev) {
    if (Number.isFinite(ev.interval) && ev.interval > 0) S.interval = ev.interval;
    S.samples = [];
    S.points = [];
    const list = Array.isArray(ev.samples) ? ev.samples : [];
    for (const sample of list) if (sample && typeof sample === 'object') addSample(sample, false);
    if (S.points.length) noteArrival(S.points[S.points.length - 1]);
    setStatus('connected');
    renderValues();
    drawAll();
  }

  function onMetrics(ev) {
    addSample(ev, true);
    if (S.status !== 'connected') setStatus('connected');
    renderValues();
    drawAll();
  }

  // ---------------------------------------------------------------- connection

  const link = ParleyWeb.createConnection(S, {
    dom,
    handlers: () => HANDLERS,
    applyConfig(cfg) {
      S.config.version = typeof cfg.version === 'string' ? cfg.version : '';
      dom.version.textContent = S.config.version ? `v${S.config.version}` : '';
      dom.version.hidden = !S.config.version;
    },
    setStatus,
    renderStatus,
    beforeConnect() {
      link.closeQuietly();
      S.reconnectAt = 0;
      setStatus(S.loggedInOnce ? 'reconnecting' : 'connecting');
    },
    onSocket: renderStatus,
    onDrop(reason) {
      if (S.status === 'login' || S.status === 'unavailable') return;
      link.scheduleReconnect(reason);
    },
    canReconnect: () => S.status !== 'login',
    onShowLogin() {
      hideTooltip();
      dom.dashboard.hidden = true;
      dom.unavailable.hidden = true;
    },
    onHideLogin: () => { dom.dashboard.hidden = false; },
    loginErrorHides: true,
  });
  const { boot, send, closeQuietly, clearConnectionTimers, reconnectNow, hideLogin } = link;

  // ---------------------------------------------------------------- events

  const HANDLERS = {
    login_successful: onLoginSuccessful,
    metrics_history: onHistory,
    metrics: onMetrics,
    error: onError,
  };

  function onLoginSuccessful() {
    link.loggedIn();
    S.loggedInOnce = true;
    hideLogin();
    dom.unavailable.hidden = true;
    dom.dashboard.hidden = false;
    link.startKeepAlive();
    send({ _ct: 'watch_metrics' });
    setStatus('connected');
    renderValues();
    requestAnimationFrame(drawAll);
  }

  function onError(ev) {
    const text = String(ev.message || ev.code || 'error');
    if (link.isLoginError(ev)) {
      link.onLoginRefused(ev, text);
      return;
    }
    if (ev.ct === 'watch_metrics' || (ev.code === 'unknown_command' && ev.ct == null)) {
      showUnavailable(ev.code === 'unknown_command'
        ? 'This server does not publish metrics.'
        : `The server refused to publish metrics: ${text}`);
      return;
    }
    showNotice(`${text}${ev.code ? ` (${ev.code})` : ''}`);
  }

  /** The server will not publish metrics: say so, and stop (no reconnect loop). */
  function showUnavailable(text) {
    clearConnectionTimers();
    closeQuietly();
    setStatus('unavailable');
    hideTooltip();
    dom.unavailableText.textContent = text;
    dom.unavailable.hidden = false;
    dom.dashboard.hidden = true;
  }

  // ---------------------------------------------------------------- status bar

  function setStatus(status) {
    const changed = S.status !== status;
    S.status = status;
    renderStatus();
    if (changed) renderValues();
  }

  function renderStatus() {
    let reason = '';
    let text;
    let countdown = '';
    switch (S.status) {
      case 'connected': text = 'Live'; break;
      case 'login': text = 'Sign in to continue'; break;
      case 'unavailable': text = 'Metrics unavailable'; break;
      case 'reconnecting': {
        const seconds = ParleyWeb.secondsUntil(S.reconnectAt);
        if (S.reconnectAt && seconds > 0) {
          reason = `${S.reconnectReason || 'Disconnected'}. `;
          countdown = ` in ${seconds} s`;
        }
        text = S.ws ? 'Reconnecting…' : 'Reconnecting';
        break;
      }
      default: text = 'Connecting…';
    }
    ParleyWeb.renderStatusBar(dom, {
      state: S.status, reason, text, countdown,
      retry: (S.status === 'reconnecting' && !S.ws) || S.status === 'unavailable',
      retryText: S.status === 'unavailable' ? 'Try again' : 'Retry now',
    });
  }

  const showNotice = (text) => ParleyWeb.showNotice(dom, S.timers, text);

  // ---------------------------------------------------------------- wiring

  function bindUi() {
    ParleyWeb.bindNotice(dom);
    dom.statusRetry.addEventListener('click', () => {
      S.attempt = 0;
      if (S.status === 'unavailable') {
        dom.unavailable.hidden = true;
        dom.dashboard.hidden = false;
        S.status = 'connecting';
      }
      reconnectNow();
    });

    for (const chart of charts) {
      const move = (e) => {
        const rect = chart.canvas.getBoundingClientRect();
        chart.hover = { x: e.clientX - rect.left, clientX: e.clientX, clientY: e.clientY };
        drawChart(chart);
      };
      chart.canvas.addEventListener('pointermove', move);
      chart.canvas.addEventListener('pointerdown', move);
      const leave = () => { chart.hover = null; hideTooltip(); drawChart(chart); };
      chart.canvas.addEventListener('pointerleave', leave);
      chart.canvas.addEventListener('pointercancel', leave);
    }
    window.addEventListener('scroll', () => {
      for (const chart of charts) if (chart.hover) { chart.hover = null; drawChart(chart); }
      hideTooltip();
    }, { passive: true });

    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver((entries) => {
        for (const entry of entries) {
          const chart = charts.find((c) => c.plot === entry.target);
          if (chart) drawChart(chart);
        }
      });
      for (const chart of charts) ro.observe(chart.plot);
    }
    window.addEventListener('resize', drawAll); // also catches zoom (devicePixelRatio) changes
    const dark = window.matchMedia('(prefers-color-scheme: dark)');
    const onScheme = () => { readTheme(); drawAll(); };
    if (dark.addEventListener) dark.addEventListener('change', onScheme);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) { renderValues(); drawAll(); } });
    window.addEventListener('online', () => { if (S.status === 'reconnecting' && !S.ws) { S.attempt = 0; reconnectNow(); } });

    // Keep the time axis moving (and the values' staleness honest) between samples and during outages.
    setInterval(() => {
      if (Date.now() - S.lastDraw > 900) { renderValues(); drawAll(); }
    }, 1000);
  }

  // Plain-data hooks for browser tests.
  window.parleyDashboard = {
    samples: () => S.samples.slice(),
    status: () => S.status,
  };

  readTheme();
  bindUi();
  renderStatus();
  renderValues();
  drawAll();
  boot();
})();
