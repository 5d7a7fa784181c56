/*
 * Parley browser pages — code shared by the chat page (chat.js) and the live dashboard
 * (dashboard.js). Plain ES2020, no dependencies; loaded with `defer` before the page script and
 * exposes one global, window.ParleyWeb.
 *
 *   h, byId, commonDom   element helpers; commonDom() finds the status bar, notice and login form
 *                        (the same ids on both pages).
 *   createConnection     the WebSocket to ws(s)://same-host/ws (in a cluster, failing over to the
 *                        other nodes /config.json lists as "peers") with the page's state object S:
 *                        /config.json, login, ping keep-alive, and reconnect after
 *                        0.5 s · 2^attempt, at most 15 s, ±25 % jitter. Each page says what a
 *                        drop means for it and how its screens change (hooks).
 *   renderStatusBar      writes #status, touching only the parts that changed.
 *   showNotice           the dismissable notice under the top bar.
 *
 * S (owned by the page) must have: config.auth, configLoaded, creds, status, reconnectReason, ws,
 * attempt, reconnectAt, timers {reconnect, countdown, ping, connect, notice}, awaitingPong,
 * loggedInOnce.
 */
'use strict';

(() => {
  const PING_MS = 25_000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15_000;
  const CONNECT_TIMEOUT_MS = 15_000; // socket created → login_successful
  const NOTICE_MS = 10_000;

  const byId = (id) => document.getElementById(id);

  /** Creates an element; text (if any) is set as text, never parsed as HTML. */
  function h(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  /** The elements both pages have: status bar, notice, login form. */
  function commonDom() {
    return {
      status: byId('status'), statusReason: byId('status-reason'), statusLabel: byId('status-label'),
      statusCountdown: byId('status-countdown'), statusRetry: byId('status-retry'),
      notice: byId('notice'), noticeText: byId('notice-text'), noticeClose: byId('notice-close'),
      loginScreen: byId('login-screen'), loginForm: byId('login-form'), loginUser: byId('login-user'),
      loginPassword: byId('login-password'), loginSubmit: byId('login-submit'), loginError: byId('login-error'),
    };
  }

  function ownWsUrl() {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  }

  /**
   * The sockets this page may use: its own server's first, then (in a cluster) the other nodes'
   * from /config.json's "peers". A node bound to every address (0.0.0.0, [::]) is reached by the
   * host name this page was loaded from.
   */
  function wsUrls(peers) {
    const urls = [ownWsUrl()];
    for (const peer of Array.isArray(peers) ? peers : []) {
      if (typeof peer !== 'string' || !/^wss?:\/\//.test(peer)) continue;
      const url = peer.replace(/^(wss?:\/\/)(0\.0\.0\.0|\[::\])(?=[:/])/, (_, scheme) => scheme + location.hostname);
      if (!urls.includes(url)) urls.push(url);
    }
    return urls;
  }

  /** The wait before reconnect attempt number `attempt` (0-based): exponential, capped, ±25 % jitter. */
  function backoffDelay(attempt) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    return Math.min(BACKOFF_MAX_MS, Math.round(base * (0.75 + Math.random() * 0.5)));
  }

  /** Whole seconds left until `at` (a Date.now() value), never negative. */
  const secondsUntil = (at) => Math.max(0, Math.ceil((at - Date.now()) / 1000));

  /**
   * Writes the status bar. Only changed parts are touched, so the live region is not re-announced
   * every second (the ticking countdown is aria-hidden). retryText is left alone when undefined.
   */
  function renderStatusBar(dom, { state, reason, text, countdown, retry, retryText }) {
    dom.status.dataset.state = state;
    if (dom.statusReason.textContent !== reason) dom.statusReason.textContent = reason;
    if (dom.statusLabel.textContent !== text) dom.statusLabel.textContent = text;
    dom.statusCountdown.textContent = countdown;
    dom.statusRetry.hidden = !retry;
    if (retryText !== undefined) dom.statusRetry.textContent = retryText;
  }

  /** Shows text in the notice bar for a while; timers.notice holds its timeout. */
  function showNotice(dom, timers, text) {
    dom.noticeText.textContent = text;
    dom.notice.hidden = false;
    clearTimeout(timers.notice);
    timers.notice = setTimeout(() => { dom.notice.hidden = true; }, NOTICE_MS);
  }

  function bindNotice(dom) {
    dom.noticeClose.addEventListener('click', () => { dom.notice.hidden = true; });
  }

  /**
   * The connection of a page to the server. hooks:
   *   dom                 from commonDom() (the login form is used)
   *   handlers()          event name → handler; `pong` is handled here
   *   applyConfig(cfg)    reads /config.json (S.config.auth is set here)
   *   setStatus(s), renderStatus()
   *   beforeConnect()     before a socket is created (after the timers are cleared)
   *   onSocket()          optional, once S.ws is the new socket
   *   onDrop(reason)      the socket is gone, not on purpose (the timers are cleared)
   *   canReconnect()      whether reconnectNow may boot again
   *   onShowLogin(), onHideLogin()   the page's part of switching to / from the login form
   *   loginErrorHides     whether #login-error is hidden while empty
   */
  function createConnection(S, hooks) {
    const { dom } = hooks;

    /** Loads /config.json (once), then asks for credentials or connects. */
    async function boot() {
      if (!S.configLoaded) {
        hooks.setStatus('connecting');
        try {
          const res = await fetch('/config.json', { cache: 'no-store' });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          const cfg = await res.json();
          S.config.auth = cfg.auth === 'required' ? 'required' : 'open';
          servers = wsUrls(cfg.peers);
          hooks.applyConfig(cfg);
          S.configLoaded = true;
        } catch (err) {
          scheduleReconnect(`Cannot reach the server (${err.message})`);
          return;
        }
      }
      if (S.config.auth === 'required' && !S.creds) showLogin('');
      else connect();
    }

    // The sockets to try (own server first; in a cluster the other nodes after it) and the one in use.
    let servers = [ownWsUrl()];
    let serverIndex = 0;

    function connect() {
      clearConnectionTimers();
      hooks.beforeConnect();
      let ws;
      let opened = false;
      try {
        ws = new WebSocket(servers[serverIndex % servers.length]);
      } catch (err) {
        serverIndex = (serverIndex + 1) % servers.length;
        drop(`Cannot open a connection (${err.message})`);
        return;
      }
      S.ws = ws;
      S.server = servers[serverIndex % servers.length];
      if (hooks.onSocket) hooks.onSocket();
      ws.onopen = () => {
        opened = true;
        if (S.ws === ws && S.config.auth === 'required' && S.creds) send({ _ct: 'login', u: S.creds.u, p: S.creds.p });
      };
      ws.onmessage = (e) => { if (S.ws === ws && typeof e.data === 'string') receive(e.data); };
      ws.onclose = (e) => {
        if (S.ws !== ws) return;
        S.ws = null;
        // A server that would not even open goes to the back: the next attempt tries the next node.
        if (!opened) serverIndex = (serverIndex + 1) % servers.length;
        drop(e.code === 1000 || e.code === 1005 ? 'The server closed the connection' : `Connection lost (code ${e.code})`);
      };
      S.timers.connect = setTimeout(() => {
        if (S.ws !== ws) return;
        if (!opened) serverIndex = (serverIndex + 1) % servers.length;
        dropSocket('The server did not answer in time');
      }, CONNECT_TIMEOUT_MS);
    }

    /** The connection is gone (not on purpose). */
    function drop(reason) {
      clearConnectionTimers();
      hooks.onDrop(reason);
    }

    /** Closes the socket without its close event reaching onDrop (for closes we meant). */
    function closeQuietly() {
      const ws = S.ws;
      S.ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(1000); } catch { /* already closing */ }
      }
    }

    /** Gives up on the current socket (dead or hung) and reconnects. */
    function dropSocket(reason) {
      closeQuietly();
      drop(reason);
    }

    function send(obj) {
      if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
      S.ws.send(JSON.stringify(obj));
      return true;
    }

    function receive(text) {
      let ev;
      try { ev = JSON.parse(text); } catch { return; }
      if (!ev || typeof ev !== 'object' || Array.isArray(ev)) return;
      if (ev._et === 'pong') { S.awaitingPong = false; return; }
      const handler = hooks.handlers()[ev._et];
      if (handler) handler(ev);
    }

    function clearConnectionTimers() {
      clearTimeout(S.timers.reconnect);
      clearInterval(S.timers.countdown);
      clearTimeout(S.timers.connect);
      clearInterval(S.timers.ping);
    }

    /** After login: a ping every 25 s; one left unanswered until the next drops the socket. */
    function startKeepAlive() {
      clearInterval(S.timers.ping);
      S.awaitingPong = false;
      S.timers.ping = setInterval(() => {
        if (S.awaitingPong) { dropSocket('The server stopped answering'); return; }
        S.awaitingPong = send({ _ct: 'ping' });
      }, PING_MS);
    }

    /** login_successful: the connect timeout is over and the back-off starts again from zero. */
    function loggedIn() {
      clearTimeout(S.timers.connect);
      S.attempt = 0;
    }

    function scheduleReconnect(reason) {
      clearConnectionTimers();
      const delay = backoffDelay(S.attempt);
      S.attempt = Math.min(S.attempt + 1, 10);
      S.reconnectAt = Date.now() + delay;
      S.reconnectReason = reason;
      hooks.setStatus('reconnecting');
      S.timers.reconnect = setTimeout(reconnectNow, delay);
      S.timers.countdown = setInterval(hooks.renderStatus, 1000);
    }

    function reconnectNow() {
      clearConnectionTimers();
      if (!hooks.canReconnect()) return;
      boot();
    }

    // ------------------------------------------------------------ login form

    function setLoginError(text) {
      dom.loginError.textContent = text;
      if (hooks.loginErrorHides) dom.loginError.hidden = !text;
    }

    function showLogin(error) {
      clearConnectionTimers();
      closeQuietly();
      hooks.setStatus('login');
      hooks.onShowLogin();
      dom.loginScreen.hidden = false;
      setLoginError(error);
      dom.loginSubmit.disabled = false;
      dom.loginSubmit.textContent = 'Sign in';
      if (!dom.loginUser.value) dom.loginUser.focus();
      else { dom.loginPassword.focus(); dom.loginPassword.select(); }
    }

    function hideLogin() {
      if (dom.loginScreen.hidden) return;
      dom.loginScreen.hidden = true;
      hooks.onHideLogin();
      dom.loginPassword.value = '';
      setLoginError('');
    }

    function onLoginSubmit(e) {
      e.preventDefault();
      const u = dom.loginUser.value.trim();
      const p = dom.loginPassword.value;
      if (!u || !p) {
        setLoginError(!u ? 'Enter your user name.' : 'Enter your password.');
        (!u ? dom.loginUser : dom.loginPassword).focus();
        return;
      }
      S.creds = { u, p };
      S.attempt = 0;
      setLoginError('');
      dom.loginSubmit.disabled = true;
      dom.loginSubmit.textContent = 'Signing in…';
      connect();
    }

    /** An error answering `login`. */
    function onLoginRefused(ev, text) {
      // A reconnect refused only for being throttled: keep the credentials and back off.
      if (ev.code === 'throttled' && S.loggedInOnce && dom.loginScreen.hidden) {
        dropSocket(`Login throttled: ${text}`);
        return;
      }
      S.creds = null;
      const fallback = ev.code === 'throttled' ? 'Too many attempts — wait a moment and try again.' : 'Wrong user name or password.';
      showLogin(ev.message ? `Sign-in failed: ${ev.message}` : fallback);
    }

    /** Whether an error event is about logging in. */
    const isLoginError = (ev) => ev.ct === 'login' || ev.code === 'login_failed' || ev.code === 'throttled';

    dom.loginForm.addEventListener('submit', onLoginSubmit);

    return {
      boot, connect, closeQuietly, dropSocket, send, clearConnectionTimers, startKeepAlive, loggedIn,
      scheduleReconnect, reconnectNow, showLogin, hideLogin, onLoginRefused, isLoginError,
    };
  }

  window.ParleyWeb = {
    h, byId, commonDom, wsUrl: ownWsUrl, backoffDelay, secondsUntil, renderStatusBar, showNotice, bindNotice, createConnection,
  };
})();
