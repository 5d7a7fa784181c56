/*
 * Parley browser chat client — plain ES2020, no dependencies; uses common.js (window.ParleyWeb)
 * for the connection, login form, status bar and notice it shares with the dashboard.
 *
 * The page speaks the NDJSON chat protocol of `parley serve` (docs/wire-formats.md, "Chat
 * protocol") over a WebSocket at /ws: one command or event per text message.
 *
 * State model
 *   S.status      login | connecting | connected | reconnecting (mirrored in #status[data-state]).
 *   S.rooms       name → Room. A Room holds what the server told about it (description, user
 *                 count), the user's intent `want` (in the room — survives reconnects) and
 *                 `joined` (joined on the current connection), its messages, unread count,
 *                 members and a serial queue of `history` requests.
 *   Room messages `byId` (journal id → Msg) with `ids` kept sorted: every message, live or from
 *                 history, goes through one insert keyed by id, so order is always id order and
 *                 an id is never shown twice. `pending` holds our own sends that have no id
 *                 yet (sending, or failed); they are shown after the rest.
 *   Msg           {id, u, c, t, own, state: sending|sent|failed, ref, error, el}. Each send
 *                 carries a fresh integer `ref`. Our own echo (user_message from us in that
 *                 room with the same content) gives the oldest matching pending send its id;
 *                 the message_ack with the ref makes it "sent" (and corrects the id if the
 *                 content guess picked the wrong one); an error with the ref makes it "failed".
 *   S.refs        ref → what the command was for (send / join / leave / history / users), so
 *                 `error` events land where they belong. `history` answers carry no ref, so a
 *                 room has at most one history request in flight and the answer is for it.
 *
 * Reconnect and fetching what was missed
 *   1. Unexpected close (or a ping left unanswered for 25 s, or no login within 15 s): every
 *      send without an echo becomes "failed" with a retry button — never resent by itself,
 *      since the server may have stored it; a send whose echo arrived is stored (the echo is
 *      sent only once it is in the journal), so it becomes "sent". Each room in `want` records
 *      `floor` = the newest id it holds — unless an earlier catch-up is unfinished, whose
 *      floor is kept, because there is a hole above it.
 *   2. Reconnect after 0.5 s · 2^attempt, at most 15 s, ±25 % jitter. Log in again with the
 *      credentials kept in memory (never in storage), re-join every room in `want`.
 *   3. After each user_joined_room: `history` (limit 200) newest first, paging back with
 *      `before` = the oldest id of the last page, until a page reaches an id ≤ floor, is empty
 *      or says more=false. Live messages arriving meanwhile land above the hole the pages are
 *      filling; the id-keyed insert merges both without duplicates, and the pages leave no gap.
 */
'use strict';

(() => {
  // ---------------------------------------------------------------- constants
  const HISTORY_PAGE = 50;        // newest page when a room is opened, and each older page
  const CATCHUP_PAGE = 200;       // the server's largest page, for fetching what was missed
  const NEAR_BOTTOM_PX = 48;
  const LOAD_OLDER_PX = 120;
  const encoder = new TextEncoder();

  // ---------------------------------------------------------------- DOM
  const { h, byId: $ } = ParleyWeb;
  const dom = {
    ...ParleyWeb.commonDom(),
    identity: $('identity'), me: $('me'), menuButton: $('menu-button'),
    app: $('app'), sidebar: $('sidebar'), rooms: $('rooms'), roomsLoading: $('rooms-loading'),
    roomTitle: $('room-title'), roomDesc: $('room-desc'), roomNote: $('room-note'),
    membersButton: $('members-button'), membersCount: $('members-count'),
    emptyState: $('empty-state'), joinPrompt: $('join-prompt'), joinPromptRoom: $('join-prompt-room'),
    joinPromptButton: $('join-prompt-button'), joinPromptError: $('join-prompt-error'),
    messages: $('messages'), jumpNew: $('jump-new'),
    composer: $('composer'), input: $('message-input'), sendButton: $('send-button'), byteCount: $('byte-count'),
    membersPanel: $('members-panel'), members: $('members'), membersTotal: $('members-total'), membersMore: $('members-more'),
    scrim: $('scrim'),
  };

  // ---------------------------------------------------------------- state
  const S = {
    config: { auth: 'open', maxMessageBytes: 4096 },
    configLoaded: false,
    creds: null,            // {u, p}: memory only
    me: null,
    myNames: new Set(),     // every name this page has had (open mode gives a new one per connection)
    status: 'connecting',
    reconnectReason: '',
    ws: null,
    attempt: 0,
    reconnectAt: 0,
    timers: { reconnect: 0, countdown: 0, ping: 0, connect: 0, notice: 0 },
    awaitingPong: false,
    loggedInOnce: false,
    autoJoinPending: false, // first login: join "general" once the room list shows it
    roomsPaging: false,
    listed: new Set(),      // rooms named by the listing in progress
    rooms: new Map(),
    order: [],              // room names in the server's order
    current: null,          // the room on screen
    nextRef: 1,
    refs: new Map(),        // ref → {kind, room, msg}
    sending: new Map(),     // ref → Msg still waiting for message_ack
    hiddenUnseen: 0,        // messages in the current room while the tab was hidden
  };

  function newRoom(name) {
    return {
      name, desc: '', users: null,
      want: false, joined: false, joining: false, leaving: false, focusOnJoin: false, error: '',
      byId: new Map(), ids: [], pending: [], unread: 0,
      historyLoaded: false, olderMore: null, floor: null, note: '',
      hist: { inflight: null, queue: [] },
      members: new Set(), membersN: 0, membersMore: false, membersCursor: null, membersLoading: false,
      row: null,
    };
  }

  function ensureRoom(name) {
    let room = S.rooms.get(name);
    if (!room) {
      room = newRoom(name);
      S.rooms.set(name, room);
      if (!S.order.includes(name)) S.order.push(name);
    }
    return room;
  }

  const currentRoom = () => (S.current == null ? null : S.rooms.get(S.current) || null);
  const utf8Bytes = (text) => encoder.encode(text).length;

  // ---------------------------------------------------------------- connection

  const link = ParleyWeb.createConnection(S, {
    dom,
    handlers: () => HANDLERS,
    applyConfig(cfg) {
      if (Number.isInteger(cfg.maxMessageBytes) && cfg.maxMessageBytes > 0) S.config.maxMessageBytes = cfg.maxMessageBytes;
    },
    setStatus,
    renderStatus,
    beforeConnect: () => setStatus('connecting'),
    onDrop,
    canReconnect: () => !(S.status === 'login' || (S.ws && S.status !== 'reconnecting')),
    onShowLogin: () => { dom.app.hidden = true; },
    onHideLogin: () => { dom.app.hidden = false; },
    loginErrorHides: false,
  });
  const { boot, send, startKeepAlive, scheduleReconnect, reconnectNow, hideLogin } = link;

  /** Sends a command with a fresh ref, remembering what it was for; returns the ref or null if offline. */
  function command(ct, fields, context) {
    const ref = S.nextRef++;
    if (!send({ _ct: ct, ...fields, ref })) return null;
    if (context) S.refs.set(ref, context);
    return ref;
  }

  /** The connection is gone (not on purpose): settle every in-flight thing, then back off. */
  function onDrop(reason) {
    S.refs.clear();
    S.roomsPaging = false;
    for (const msg of S.sending.values()) {
      if (msg.id != null) {
        msg.state = 'sent'; // its echo arrived: it is in the journal
      } else {
        msg.state = 'failed';
        msg.error = 'Not sent — the connection dropped before the server confirmed it.';
      }
      renderMessage(msg);
    }
    S.sending.clear();
    for (const room of S.rooms.values()) settleRoomOffline(room);
    scheduleReconnect(reason);
    renderAll();
  }

  function settleRoomOffline(room) {
    room.hist.inflight = null;
    room.hist.queue = [];
    room.membersLoading = false;
    room.joining = false;
    if (room.leaving) forgetRoom(room); // a new session is in no room: the leave is done
    if (room.want) {
      if (room.floor == null) {
        room.floor = room.ids.length ? room.ids[room.ids.length - 1] : (room.historyLoaded ? 0 : null);
      }
      room.note = '';
    }
    room.joined = false;
  }

  // ---------------------------------------------------------------- events

  const HANDLERS = {
    login_successful: onLoginSuccessful,
    user_joined_room: onUserJoinedRoom,
    room_participation: onParticipation,
    user_message: onUserMessage,
    message_ack: onAck,
    rooms: onRooms,
    room_users: onRoomUsers,
    history: onHistory,
    error: onError,
  };

  function onLoginSuccessful(ev) {
    link.loggedIn();
    S.me = String(ev.u);
    S.myNames.add(S.me);
    setStatus('connected');
    hideLogin();
    startKeepAlive();

    const first = !S.loggedInOnce;
    S.loggedInOnce = true;
    S.autoJoinPending = first;
    mergeRoomList(Array.isArray(ev.rs) ? ev.rs : [], true);
    if (ev.more && ev.rs && ev.rs.length) requestRooms(ev.rs[ev.rs.length - 1].n);
    else finishRoomPaging();

    if (!first) {
      for (const name of S.order) {
        const room = S.rooms.get(name);
        if (room && room.want) sendJoin(room);
      }
    }
    renderAll();
  }

  function onUserJoinedRoom(ev) {
    const room = ensureRoom(String(ev.r));
    forgetRefs('join', room.name);
    room.joined = true;
    room.want = true;
    room.joining = false;
    room.error = '';
    setMembers(room, ev.us, ev.more, ev.n);
    if (room.floor != null) startCatchUp(room);
    else if (!room.historyLoaded) queueHistory(room, 'initial');
    if (room.focusOnJoin) {
      room.focusOnJoin = false;
      selectRoom(room.name);
      dom.input.focus();
    }
    updateRow(room);
    if (room.name === S.current) renderRoomView();
  }

  function onParticipation(ev) {
    const room = S.rooms.get(String(ev.r));
    if (!room) return;
    const user = String(ev.u);
    if (ev.s === 'joined') {
      addMember(room, user);
    } else if (ev.s === 'left') {
      if (user === S.me) { finishLeave(room); return; }
      removeMember(room, user);
    }
    if (room.name === S.current) renderMembers();
  }

  function onUserMessage(ev) {
    if (!validMessage(ev)) return;
    const room = S.rooms.get(String(ev.r));
    if (!room || !room.want) return; // a straggler from a room we left
    const view = viewing(room) ? captureScroll() : null;
    const rec = addServerMessage(room, ev, true);
    if (!rec) return;
    if (!rec.own) {
      if (room.name !== S.current) setUnread(room, room.unread + 1);
      else if (document.hidden) { S.hiddenUnseen++; renderTitle(); }
    }
    if (view) {
      restoreScroll(view);
      if (!view.atBottom && !rec.own) dom.jumpNew.hidden = false;
    }
  }

  function onAck(ev) {
    const context = S.refs.get(ev.ref);
    if (!context || context.kind !== 'send') return;
    S.refs.delete(ev.ref);
    S.sending.delete(ev.ref);
    const msg = context.msg;
    const room = S.rooms.get(context.room);
    if (!room || !room.want) return;
    if (Number.isSafeInteger(ev.id) && msg.id !== ev.id) rebind(room, msg, ev.id);
    msg.state = 'sent';
    msg.error = '';
    renderMessage(msg);
  }

  function onRooms(ev) {
    mergeRoomList(Array.isArray(ev.rs) ? ev.rs : [], false);
    if (ev.more && ev.rs && ev.rs.length) requestRooms(ev.rs[ev.rs.length - 1].n);
    else finishRoomPaging();
    renderRooms();
  }

  function onRoomUsers(ev) {
    const room = S.rooms.get(String(ev.r));
    if (!room) return;
    forgetRefs('users', room.name);
    room.membersLoading = false;
    const users = Array.isArray(ev.us) ? ev.us.map(String) : [];
    for (const u of users) room.members.add(u);
    if (users.length) room.membersCursor = users[users.length - 1];
    room.membersMore = !!ev.more;
    if (Number.isInteger(ev.n)) room.membersN = ev.n;
    if (room.name === S.current) renderMembers();
  }

  function onHistory(ev) {
    const room = S.rooms.get(String(ev.r));
    if (!room) return;
    const request = room.hist.inflight || { kind: 'initial' };
    room.hist.inflight = null;
    if (request.ref != null) S.refs.delete(request.ref);
    if (room.want) applyHistory(room, request, ev);
    pumpHistory(room);
  }

  function onError(ev) {
    const context = ev.ref != null ? S.refs.get(ev.ref) : null;
    if (context) S.refs.delete(ev.ref);
    const text = String(ev.message || ev.code || 'error');
    if (link.isLoginError(ev)) {
      link.onLoginRefused(ev, text);
      return;
    }
    if (context) {
      switch (context.kind) {
        case 'send': failSend(context.msg, text); return;
        case 'join': joinRefused(context.room, ev, text); return;
        case 'leave': leaveRefused(context.room, ev, text); return;
        case 'history': historyRefused(context.room, text); return;
        case 'users': {
          const room = S.rooms.get(context.room);
          if (room) room.membersLoading = false;
          break;
        }
        case 'rooms': S.roomsPaging = false; renderRooms(); break;
        default: break;
      }
    }
    // Connection-level problems (server_full, login_timeout, too_many_errors, …) and anything
    // we cannot place: the status bar. The close that may follow is handled by onDrop.
    showNotice(`${text}${ev.code ? ` (${ev.code})` : ''}`);
  }

  // ---------------------------------------------------------------- rooms

  function requestRooms(after) {
    S.roomsPaging = command('list_rooms', { after }, { kind: 'rooms' }) != null;
    renderRoomsLoading();
  }

  function finishRoomPaging() {
    S.roomsPaging = false;
    S.autoJoinPending = false;
    // The listing is complete: drop rooms the server no longer lists (unless we are in them).
    S.order = S.order.filter((n) => S.listed.has(n) || S.rooms.get(n)?.want);
    renderRooms();
  }

  /** Adds the rooms of one list page (login_successful's first page resets the order). */
  function mergeRoomList(list, reset) {
    const names = [];
    for (const item of list) {
      if (!item || item.n == null) continue;
      const room = ensureRoom(String(item.n));
      if (typeof item.d === 'string') room.desc = item.d;
      if (Number.isInteger(item.m)) room.users = item.m;
      names.push(room.name);
    }
    if (reset) {
      // A fresh listing: rooms already known keep their place until the last page says whether they still exist.
      S.listed = new Set(names);
      S.order = [...names, ...S.order.filter((n) => !names.includes(n))];
    } else {
      for (const n of names) {
        S.listed.add(n);
        if (!S.order.includes(n)) S.order.push(n);
      }
    }
    if (S.autoJoinPending && names.includes('general') && ![...S.rooms.values()].some((r) => r.want)) {
      S.autoJoinPending = false;
      // Focus the message box, except on touch screens, where that would pop up the keyboard unasked.
      joinRoom('general', !matchMedia('(pointer: coarse)').matches);
    }
    renderRooms();
  }

  function sendJoin(room) {
    room.joining = true;
    if (command('join_room', { r: room.name }, { kind: 'join', room: room.name }) == null) room.joining = false;
    updateRow(room);
  }

  /** The user joins a room: it becomes current and the message box gets focus once joined. */
  function joinRoom(name, focus) {
    const room = ensureRoom(name);
    if (room.want && room.joined) { selectRoom(name); if (focus) dom.input.focus(); return; }
    room.want = true;
    room.error = '';
    room.focusOnJoin = focus;
    selectRoom(name);
    if (S.status === 'connected') sendJoin(room);
    updateRow(room);
    renderRoomView();
  }

  function leaveRoom(name) {
    const room = S.rooms.get(name);
    if (!room || !room.want) return;
    room.error = '';
    if (!room.joined) { finishLeave(room); return; } // offline, or not yet joined: nothing to tell the server
    room.leaving = true;
    if (command('leave_room', { r: name }, { kind: 'leave', room: name }) == null) finishLeave(room);
    updateRow(room);
  }

  /** Drops everything about a room we are no longer in (a later join starts afresh: no gap). */
  function forgetRoom(room) {
    for (const msg of room.pending) if (msg.ref != null) S.sending.delete(msg.ref);
    for (const msg of room.byId.values()) if (msg.ref != null) S.sending.delete(msg.ref);
    room.want = room.joined = room.joining = room.leaving = room.focusOnJoin = false;
    room.byId = new Map();
    room.ids = [];
    room.pending = [];
    room.historyLoaded = false;
    room.olderMore = null;
    room.floor = null;
    room.note = '';
    room.hist = { inflight: null, queue: [] };
    room.members = new Set();
    room.membersN = 0;
    room.membersMore = false;
    room.membersCursor = null;
    setUnread(room, 0);
  }

  function finishLeave(room) {
    const wasCurrent = room.name === S.current;
    forgetRoom(room);
    updateRow(room);
    if (wasCurrent) {
      const next = S.order.map((n) => S.rooms.get(n)).find((r) => r && r.want);
      if (next) selectRoom(next.name);
      else renderCurrentRoom();
    }
  }

  function joinRefused(name, ev, text) {
    const room = S.rooms.get(name);
    if (!room) return;
    room.joining = false;
    if (ev.code === 'already_member') {
      // We are in it after all (a race with a rejoin): carry on as if joined.
      onUserJoinedRoom({ r: name, us: [...room.members], more: true, n: room.membersN });
      requestMembers(room, null);
      return;
    }
    const focus = room.focusOnJoin;
    forgetRoom(room);
    room.error = `Could not join: ${text}`;
    updateRow(room);
    if (room.name === S.current) renderRoomView();
    if (focus) room.row?.querySelector('button.join')?.focus();
  }

  function leaveRefused(name, ev, text) {
    const room = S.rooms.get(name);
    if (!room) return;
    if (ev.code === 'not_a_member' || ev.code === 'unknown_room') { finishLeave(room); return; }
    room.leaving = false;
    room.error = `Could not leave: ${text}`;
    updateRow(room);
  }

  function selectRoom(name) {
    const previous = currentRoom();
    S.current = name;
    const room = currentRoom();
    if (room) setUnread(room, 0);
    if (previous && previous !== room) updateRow(previous);
    if (room) updateRow(room);
    closeDrawers();
    renderCurrentRoom();
  }

  /** Alt+Up / Alt+Down: the previous / next room that the user is in. */
  function cycleRoom(step) {
    const joined = S.order.filter((n) => S.rooms.get(n)?.want);
    if (!joined.length) return;
    const at = joined.indexOf(S.current);
    const next = at < 0 ? (step > 0 ? 0 : joined.length - 1) : (at + step + joined.length) % joined.length;
    selectRoom(joined[next]);
    if (!dom.input.disabled) dom.input.focus();
  }

  function setUnread(room, count) {
    room.unread = count;
    updateRow(room);
    renderTitle();
  }

  // ---------------------------------------------------------------- members

  function setMembers(room, users, more, n) {
    room.members = new Set(Array.isArray(users) ? users.map(String) : []);
    room.membersCursor = Array.isArray(users) && users.length ? String(users[users.length - 1]) : null;
    room.membersMore = !!more;
    room.membersN = Number.isInteger(n) ? n : room.members.size;
    if (room.name === S.current) renderMembers();
  }

  function addMember(room, user) {
    if (room.members.has(user)) return;
    // A "joined" event is sent for a user's first session only, so the total grows by one.
    room.membersN++;
    // With a cut list, only names inside the range we paged through are added (else `after` paging would skip names).
    if (!room.membersMore || (room.membersCursor != null && user < room.membersCursor)) room.members.add(user);
  }

  function removeMember(room, user) {
    room.members.delete(user);
    room.membersN = Math.max(room.members.size, room.membersN - 1);
  }

  function requestMembers(room, after) {
    if (room.membersLoading) return;
    const fields = after == null ? { r: room.name } : { r: room.name, after };
    room.membersLoading = command('list_users', fields, { kind: 'users', room: room.name }) != null;
  }

  // ---------------------------------------------------------------- messages

  function validMessage(m) {
    return m && Number.isSafeInteger(m.id) && typeof m.c === 'string' && m.u != null;
  }

  /** Binary search: the index of the first id ≥ id in a sorted array. */
  function lowerBound(ids, id) {
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ids[mid] < id) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /**
   * The one way a server message enters a room. Returns the record, or null when that id is
   * already held. A live echo of our own pending send is bound to it instead of shown twice.
   */
  function addServerMessage(room, m, live) {
    if (room.byId.has(m.id)) return null;
    const user = String(m.u);
    if (live && user === S.me) {
      const mine = room.pending.find((p) => p.state === 'sending' && p.c === m.c);
      if (mine) {
        removePending(room, mine);
        mine.id = m.id;
        mine.t = typeof m.t === 'string' ? m.t : mine.t;
        insertRecord(room, mine);
        renderMessage(mine);
        return mine;
      }
    }
    const rec = {
      id: m.id, u: user, c: m.c, t: typeof m.t === 'string' ? m.t : '',
      own: S.myNames.has(user), state: 'sent', ref: null, error: '', el: null,
    };
    insertRecord(room, rec);
    return rec;
  }

  function insertRecord(room, rec) {
    const at = lowerBound(room.ids, rec.id);
    room.ids.splice(at, 0, rec.id);
    room.byId.set(rec.id, rec);
    if (!viewing(room)) return;
    const nextId = room.ids[at + 1];
    const next = nextId != null ? room.byId.get(nextId).el : (room.pending[0] ? room.pending[0].el : null);
    dom.messages.insertBefore(messageElement(rec), next && next.isConnected ? next : null);
  }

  function removeRecord(room, rec) {
    const at = lowerBound(room.ids, rec.id);
    if (room.ids[at] === rec.id) room.ids.splice(at, 1);
    room.byId.delete(rec.id);
    if (rec.el) rec.el.remove();
  }

  function removePending(room, msg) {
    const at = room.pending.indexOf(msg);
    if (at >= 0) room.pending.splice(at, 1);
    if (msg.el) msg.el.remove();
  }

  function appendPending(room, msg) {
    room.pending.push(msg);
    if (viewing(room)) dom.messages.appendChild(messageElement(msg));
  }

  /**
   * The ack says our send got another id than the one our echo guess gave it (or the echo was
   * not recognised): put it at the acknowledged id; whatever held that id was the server's copy
   * of it, or another of our sends with the same content (then the two swap).
   */
  function rebind(room, msg, id) {
    const oldId = msg.id;
    const oldText = msg.c;
    const oldTime = msg.t;
    if (oldId != null) removeRecord(room, msg); else removePending(room, msg);
    const other = room.byId.get(id);
    if (other) {
      removeRecord(room, other);
      msg.c = other.c;
      msg.t = other.t || msg.t;
    }
    msg.id = id;
    insertRecord(room, msg);
    if (oldId != null && !room.byId.has(oldId)) {
      if (other && other.own && other.state === 'sending') {
        other.id = oldId;
        insertRecord(room, other);
      } else {
        insertRecord(room, { id: oldId, u: msg.u, c: oldText, t: oldTime, own: true, state: 'sent', ref: null, error: '', el: null });
      }
    }
    if (msg.el) renderContent(msg.el.querySelector('.content'), msg.c);
  }

  function sendFromComposer() {
    const room = currentRoom();
    const text = dom.input.value;
    if (!room || !room.joined || S.status !== 'connected' || !text.trim()) return;
    if (utf8Bytes(text) > S.config.maxMessageBytes) { updateComposer(); return; }
    const msg = {
      id: null, u: S.me, c: text, t: new Date().toISOString(), own: true,
      state: 'sending', ref: null, error: '', el: null, room: room.name,
    };
    appendPending(room, msg);
    transmit(room, msg);
    dom.input.value = '';
    autoGrow();
    updateComposer();
    scrollToBottom();
  }

  function transmit(room, msg) {
    msg.state = 'sending';
    msg.error = '';
    msg.ref = command('send_message', { r: room.name, c: msg.c }, { kind: 'send', msg, room: room.name });
    if (msg.ref == null) {
      msg.state = 'failed';
      msg.error = 'Not sent — not connected.';
    } else {
      S.sending.set(msg.ref, msg);
    }
    renderMessage(msg);
  }

  function failSend(msg, text) {
    S.sending.delete(msg.ref);
    msg.state = 'failed';
    msg.error = `Not sent: ${text}`;
    renderMessage(msg);
  }

  function retrySend(msg) {
    const room = S.rooms.get(msg.room);
    if (!room || !room.joined || S.status !== 'connected') return;
    removePending(room, msg);
    appendPending(room, msg);
    transmit(room, msg);
    scrollToBottom();
    dom.input.focus();
  }

  function discardSend(msg) {
    const room = S.rooms.get(msg.room);
    if (room) removePending(room, msg);
    dom.input.focus();
  }

  // ---------------------------------------------------------------- history

  /** History requests of a room run one at a time (the answer carries no ref). */
  function queueHistory(room, kind, before) {
    if (kind === 'older' && (room.hist.inflight?.kind === 'older' || room.hist.queue.some((q) => q.kind === 'older'))) return;
    room.hist.queue.push({ kind, before: before ?? null, ref: null });
    pumpHistory(room);
    renderHistoryEdge();
  }

  function pumpHistory(room) {
    if (room.hist.inflight || !room.hist.queue.length || !room.joined) return;
    const request = room.hist.queue.shift();
    if (request.kind === 'older') request.before = room.ids.length ? room.ids[0] : null;
    const fields = { r: room.name, limit: request.kind === 'catchup' ? CATCHUP_PAGE : HISTORY_PAGE };
    if (request.before != null) fields.before = request.before;
    request.ref = command('history', fields, { kind: 'history', room: room.name });
    if (request.ref == null) return;
    room.hist.inflight = request;
    renderHistoryEdge();
  }

  function startCatchUp(room) {
    room.note = 'Fetching missed messages…';
    renderRoomNote();
    queueHistory(room, 'catchup', null);
  }

  function requestOlder(room) {
    if (!room.joined || room.olderMore === false || (!room.historyLoaded && room.floor == null)) return;
    queueHistory(room, 'older');
  }

  function applyHistory(room, request, ev) {
    const page = (Array.isArray(ev.ms) ? ev.ms : []).filter(validMessage);
    const view = viewing(room) ? captureScroll() : null;
    const oldest = room.ids.length ? room.ids[0] : Infinity;
    let pageOldest = Infinity;
    let missed = 0;
    for (const m of page) {
      pageOldest = Math.min(pageOldest, m.id);
      const rec = addServerMessage(room, m, false);
      if (rec && request.kind === 'catchup' && m.id > room.floor && !rec.own) missed++;
    }
    if (!page.length) {
      if (request.kind !== 'catchup' || !room.ids.length) room.olderMore = false;
    } else if (pageOldest < oldest) {
      room.olderMore = !!ev.more; // this page reaches below everything we held
    }

    if (request.kind === 'initial') room.historyLoaded = true;
    if (request.kind === 'catchup') {
      if (missed && room.name !== S.current) setUnread(room, room.unread + missed);
      if (!page.length || !ev.more || pageOldest <= room.floor) finishCatchUp(room);
      else queueHistory(room, 'catchup', pageOldest);
    }

    if (view) {
      if (request.kind === 'initial') scrollToBottom(); else restoreScroll(view);
      renderHistoryEdge();
      requestAnimationFrame(() => fillViewport(room));
    }
  }

  function finishCatchUp(room) {
    room.floor = null;
    room.historyLoaded = true;
    if (room.olderMore == null) room.olderMore = true;
    room.note = '';
    renderRoomNote();
  }

  function historyRefused(name, text) {
    const room = S.rooms.get(name);
    if (!room) return;
    const request = room.hist.inflight;
    room.hist.inflight = null;
    room.note = request?.kind === 'catchup'
      ? `Could not fetch missed messages: ${text}`
      : `Could not load messages: ${text}`;
    if (request?.kind === 'older') room.olderMore = room.olderMore ?? true;
    renderRoomNote();
    renderHistoryEdge();
    pumpHistory(room);
  }

  /** Loads older pages while the messages do not fill the view (scrolling cannot ask then). */
  function fillViewport(room) {
    if (!viewing(room) || room.olderMore === false) return;
    const box = dom.messages;
    if (box.scrollHeight <= box.clientHeight + LOAD_OLDER_PX) requestOlder(room);
  }

  // ---------------------------------------------------------------- rendering: status & title

  function setStatus(status) {
    S.status = status;
    renderStatus();
    updateComposer();
  }

  function renderStatus() {
    let reason = '';
    let text;
    let countdown = '';
    switch (S.status) {
      case 'connected': text = 'Connected'; break;
      case 'login': text = 'Sign in to continue'; break;
      case 'reconnecting':
        reason = `${S.reconnectReason || 'Disconnected'}. `; // hidden on phones
        text = 'Reconnecting';
        countdown = ` in ${ParleyWeb.secondsUntil(S.reconnectAt)} s`;
        break;
      default: text = 'Connecting…';
    }
    ParleyWeb.renderStatusBar(dom, { state: S.status, reason, text, countdown, retry: S.status === 'reconnecting' });
    dom.identity.hidden = !S.me || S.status === 'login';
    dom.me.textContent = S.me || '';
  }

  function renderTitle() {
    let total = S.hiddenUnseen;
    for (const room of S.rooms.values()) total += room.unread;
    document.title = total ? `(${total}) Parley` : 'Parley';
  }

  const showNotice = (text) => ParleyWeb.showNotice(dom, S.timers, text);

  /** Everything except the message list (which is only rebuilt on a room switch, so the reader keeps their place). */
  function renderAll() {
    renderStatus();
    renderRooms();
    renderRoomView();
    renderMembers();
    renderHistoryEdge();
    renderTitle();
  }

  // ---------------------------------------------------------------- rendering: room list

  function renderRoomsLoading() {
    dom.roomsLoading.hidden = !S.roomsPaging;
  }

  function renderRooms() {
    // Rows are kept and updated in place (focus stays on a button while counts change).
    const wanted = [];
    for (const name of S.order) {
      const room = S.rooms.get(name);
      if (!room) continue;
      if (!room.row) room.row = createRow(room);
      updateRow(room);
      wanted.push(room.row);
    }
    const current = [...dom.rooms.children];
    if (current.length !== wanted.length || current.some((row, i) => row !== wanted[i])) {
      for (const row of current) if (!wanted.includes(row)) row.remove();
      wanted.forEach((row, i) => { if (dom.rooms.children[i] !== row) dom.rooms.insertBefore(row, dom.rooms.children[i] || null); });
    }
    renderRoomsLoading();
  }

  function createRow(room) {
    const li = h('li', 'room');
    li.dataset.room = room.name;
    const select = h('button', 'room-select');
    select.type = 'button';
    const top = h('span', 'room-top');
    const name = h('span', 'room-name');
    name.append(h('span', 'hash', '#'), h('span', 'room-label', room.name));
    const unread = h('span', 'unread', '0');
    unread.hidden = true;
    top.append(name, unread);
    const desc = h('span', 'room-desc-line');
    select.append(top, desc);
    select.addEventListener('click', () => {
      selectRoom(room.name);
      if (room.want && !dom.input.disabled) dom.input.focus();
    });
    const toggle = h('button', 'join', 'Join');
    toggle.type = 'button';
    toggle.addEventListener('click', () => {
      if (toggle.classList.contains('leave')) leaveRoom(room.name); else joinRoom(room.name, true);
    });
    const error = h('p', 'room-error');
    error.hidden = true;
    li.append(select, toggle, error);
    return li;
  }

  function updateRow(room) {
    const li = room.row;
    if (!li) return;
    const [select, toggle, error] = li.children;
    const isCurrent = room.name === S.current;
    li.classList.toggle('current', isCurrent);
    li.classList.toggle('joined', room.want);
    if (isCurrent) select.setAttribute('aria-current', 'true'); else select.removeAttribute('aria-current');
    const unread = select.querySelector('.unread');
    unread.textContent = String(room.unread);
    unread.hidden = room.unread === 0;
    select.setAttribute('aria-label', `#${room.name}${room.unread ? `, ${room.unread} unread` : ''}${room.want ? ', joined' : ''}`);
    const descLine = select.querySelector('.room-desc-line');
    descLine.textContent = room.desc;
    // Only `rooms` pages carry user counts (login_successful's does not): a tooltip, not a column.
    const users = room.users != null ? ` (${room.users} ${room.users === 1 ? 'user' : 'users'})` : '';
    select.title = `${room.desc}${users}`;
    const leave = room.want;
    toggle.className = leave ? 'leave' : 'join';
    toggle.textContent = room.joining ? 'Joining…' : room.leaving ? 'Leaving…' : leave ? 'Leave' : 'Join';
    toggle.disabled = room.joining || room.leaving;
    toggle.setAttribute('aria-label', `${leave ? 'Leave' : 'Join'} #${room.name}`);
    error.textContent = room.error;
    error.hidden = !room.error;
    if (isCurrent) renderJoinPrompt();
  }

  // ---------------------------------------------------------------- rendering: current room

  const viewing = (room) => room != null && room.name === S.current && room.want;

  /** Everything about the room on screen (after a switch, or when it is joined / left). */
  function renderCurrentRoom() {
    renderRoomView();
    renderMessages();
    renderMembers();
    scrollToBottom();
    const room = currentRoom();
    if (room) requestAnimationFrame(() => fillViewport(room));
  }

  function renderRoomView() {
    const room = currentRoom();
    dom.roomTitle.textContent = room ? `#${room.name}` : 'Parley';
    dom.roomDesc.textContent = room ? room.desc : '';
    dom.roomDesc.title = room ? room.desc : '';
    dom.emptyState.hidden = !!room;
    dom.messages.hidden = !(room && room.want);
    dom.membersButton.hidden = !(room && room.want);
    dom.input.placeholder = room ? `Message #${room.name}` : 'Message';
    if (!room || !room.want) dom.jumpNew.hidden = true;
    renderJoinPrompt();
    renderRoomNote();
    updateComposer();
  }

  function renderJoinPrompt() {
    const room = currentRoom();
    dom.joinPrompt.hidden = !room || room.want;
    if (!room || room.want) return;
    dom.joinPromptRoom.textContent = `#${room.name}`;
    dom.joinPromptError.textContent = room.error;
  }

  function renderRoomNote() {
    const room = currentRoom();
    dom.roomNote.textContent = room && room.want ? room.note : '';
  }

  function renderMessages() {
    const room = currentRoom();
    if (!room || !room.want) { dom.messages.replaceChildren(historyEdge.node); return; }
    const fragment = document.createDocumentFragment();
    fragment.append(historyEdge.node);
    for (const id of room.ids) fragment.append(messageElement(room.byId.get(id)));
    for (const msg of room.pending) fragment.append(messageElement(msg));
    dom.messages.replaceChildren(fragment);
    dom.jumpNew.hidden = true;
    renderHistoryEdge();
  }

  /** The top of the message list. One element, updated in place so a focused button keeps focus. */
  const historyEdge = (() => {
    const node = h('div', 'history-edge');
    const text = h('span', 'muted');
    const button = h('button', 'link-button load-older', 'Load older messages');
    button.type = 'button';
    button.addEventListener('click', () => {
      const room = currentRoom();
      if (room && button.getAttribute('aria-disabled') !== 'true') requestOlder(room);
    });
    node.append(text, button);
    return { node, text, button };
  })();

  /** "Load older" (a button), "loading older" (the same button, inert), or "beginning of the room". */
  function renderHistoryEdge() {
    const room = currentRoom();
    if (!room || !room.want) return;
    const { text, button } = historyEdge;
    const loadingOlder = room.hist.inflight?.kind === 'older' || room.hist.queue.some((q) => q.kind === 'older');
    let label = '';
    let showButton = false;
    if (!room.historyLoaded && room.floor == null) {
      label = room.hist.inflight || room.hist.queue.length ? 'Loading messages…' : '';
    } else if (room.olderMore === false) {
      label = `This is the beginning of #${room.name}.`;
    } else {
      showButton = true;
    }
    text.textContent = label;
    text.hidden = !label;
    if (!showButton && document.activeElement === button) dom.messages.focus();
    button.hidden = !showButton;
    button.textContent = loadingOlder ? 'Loading older messages…' : 'Load older messages';
    button.setAttribute('aria-disabled', loadingOlder ? 'true' : 'false');
  }

  function renderMembers() {
    const room = currentRoom();
    const show = room && room.want;
    dom.members.replaceChildren();
    dom.membersTotal.textContent = show ? `(${room.membersN})` : '';
    dom.membersCount.textContent = show ? String(room.membersN) : '0';
    dom.membersMore.hidden = !(show && room.membersMore);
    if (!show) {
      dom.members.append(h('li', 'muted small', room ? 'Join the room to see who is here.' : 'No room selected.'));
      return;
    }
    for (const name of [...room.members].sort()) {
      const li = h('li', 'member', name);
      if (name === S.me) li.classList.add('me');
      dom.members.append(li);
    }
    if (room.membersMore) {
      dom.membersMore.textContent = `Show more (${Math.max(0, room.membersN - room.members.size)} not listed)`;
    }
  }

  // ---------------------------------------------------------------- rendering: messages

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const yearTimeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

  /** Local time: just the time today, with the day otherwise (and the year if not this year). */
  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return { short: '', full: '' };
    const now = new Date();
    let format = yearTimeFormat;
    if (date.toDateString() === now.toDateString()) format = timeFormat;
    else if (date.getFullYear() === now.getFullYear()) format = dayTimeFormat;
    return { short: format.format(date), full: fullFormat.format(date) };
  }

  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  /** Message text as text nodes; http(s) URLs become links built with DOM calls (no HTML parsing). */
  function renderContent(node, text) {
    node.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const url = match[0].replace(/[)\].,;:!?]+$/, '');
      let href = null;
      try {
        const parsed = new URL(url);
        if (parsed.protocol === 'http:' || parsed.protocol === 'https:') href = parsed.href;
      } catch { /* not a URL after all */ }
      if (!href) continue;
      node.append(document.createTextNode(text.slice(last, match.index)));
      const link = h('a', null, url);
      link.href = href;
      link.target = '_blank';
      link.rel = 'noopener noreferrer nofollow';
      node.append(link);
      last = match.index + url.length;
    }
    node.append(document.createTextNode(text.slice(last)));
  }

  const STATE_LABEL = { sending: 'sending…', sent: 'sent ✓', failed: 'not sent' };

  /** The element of a message, created on first use. */
  function messageElement(msg) {
    if (msg.el) return msg.el;
    const node = h('div', 'message');
    const meta = h('div', 'meta');
    const user = h('span', 'user');
    const time = h('time', 'time');
    const state = h('span', 'msg-state');
    meta.append(user, time, state);
    const content = h('div', 'content');
    renderContent(content, msg.c);
    const problem = h('div', 'msg-problem');
    const error = h('span', 'msg-error');
    const retry = h('button', 'retry', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => retrySend(msg));
    const discard = h('button', 'discard link-button', 'Discard');
    discard.type = 'button';
    discard.addEventListener('click', () => discardSend(msg));
    problem.append(error, retry, discard);
    node.append(meta, content, problem);
    msg.el = node;
    renderMessage(msg);
    return node;
  }

  function renderMessage(msg) {
    const node = msg.el;
    if (!node) return;
    // A message that grows (an error line appears) must not push the newest out of view.
    const stick = node.isConnected && atBottom();
    if (msg.state === 'sent' && msg.id != null) node.dataset.id = String(msg.id);
    else delete node.dataset.id;
    node.dataset.state = msg.state;
    node.classList.toggle('own', !!msg.own);
    const [meta, , problem] = node.children;
    const [user, time, state] = meta.children;
    user.textContent = msg.u;
    const when = formatTime(msg.t);
    time.textContent = when.short;
    time.title = when.full;
    if (msg.t) time.dateTime = msg.t;
    state.textContent = msg.own ? STATE_LABEL[msg.state] : '';
    const failed = msg.state === 'failed';
    problem.hidden = !failed;
    problem.children[0].textContent = failed ? msg.error : '';
    problem.children[1].disabled = S.status !== 'connected' || !S.rooms.get(msg.room)?.joined;
    if (stick) dom.messages.scrollTop = dom.messages.scrollHeight;
  }

  // ---------------------------------------------------------------- scrolling

  function atBottom() {
    const box = dom.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    dom.messages.scrollTop = dom.messages.scrollHeight;
    dom.jumpNew.hidden = true;
  }

  /** Where the reader is: at the bottom, or which element is at the top and how far down. */
  function captureScroll() {
    const box = dom.messages;
    const bottom = atBottom();
    let anchor = null;
    let offset = 0;
    if (!bottom) {
      for (const child of box.children) {
        // Not the "load older" edge: older messages go in below it, and the reader's message must stay put.
        if (child.classList.contains('message') && child.offsetTop + child.offsetHeight > box.scrollTop) {
          anchor = child;
          offset = child.offsetTop - box.scrollTop;
          break;
        }
      }
    }
    return { atBottom: bottom, anchor, offset };
  }

  /** Keeps the reader's place when messages are inserted above or below it. */
  function restoreScroll(view) {
    const box = dom.messages;
    if (view.atBottom) box.scrollTop = box.scrollHeight;
    else if (view.anchor && view.anchor.isConnected) box.scrollTop = view.anchor.offsetTop - view.offset;
  }

  function onMessagesScroll() {
    const room = currentRoom();
    if (!viewing(room)) return;
    if (atBottom()) dom.jumpNew.hidden = true;
    if (dom.messages.scrollTop < LOAD_OLDER_PX) requestOlder(room);
  }

  // ---------------------------------------------------------------- composer

  function updateComposer() {
    const room = currentRoom();
    const inRoom = !!(room && room.want);
    const online = inRoom && room.joined && S.status === 'connected';
    dom.input.disabled = !inRoom;
    dom.composer.hidden = !inRoom;
    const text = dom.input.value;
    const max = S.config.maxMessageBytes;
    const bytes = utf8Bytes(text);
    const left = max - bytes;
    dom.byteCount.classList.toggle('over', left < 0);
    if (left < 0) dom.byteCount.textContent = `${-left} bytes over the ${max}-byte limit`;
    else if (left <= Math.max(200, max * 0.1)) dom.byteCount.textContent = `${left} bytes left`;
    else dom.byteCount.textContent = '';
    dom.input.setAttribute('aria-invalid', left < 0 ? 'true' : 'false');
    dom.sendButton.disabled = !online || !text.trim() || left < 0;
    dom.sendButton.title = !inRoom ? 'Join a room first' : !online ? 'Not connected' : left < 0 ? 'Message too long' : '';
    // Retry buttons follow the connection.
    if (room) for (const msg of room.pending) if (msg.state === 'failed') renderMessage(msg);
  }

  function autoGrow() {
    dom.input.style.height = 'auto';
    dom.input.style.height = `${Math.min(dom.input.scrollHeight, 200)}px`;
  }

  // ---------------------------------------------------------------- drawers (narrow screens)

  function toggleDrawer(name) {
    const open = !document.body.classList.contains(`${name}-open`);
    closeDrawers();
    if (open) {
      document.body.classList.add(`${name}-open`);
      dom.scrim.hidden = false;
      const panel = name === 'sidebar' ? dom.sidebar : dom.membersPanel;
      const button = name === 'sidebar' ? dom.menuButton : dom.membersButton;
      button.setAttribute('aria-expanded', 'true');
      const first = panel.querySelector('.room.current .room-select, .room-select, button:not([hidden])');
      if (first) first.focus();
    }
  }

  function closeDrawers() {
    document.body.classList.remove('sidebar-open', 'members-open');
    dom.menuButton.setAttribute('aria-expanded', 'false');
    dom.membersButton.setAttribute('aria-expanded', 'false');
    dom.scrim.hidden = true;
  }

  // ---------------------------------------------------------------- wiring

  function forgetRefs(kind, room) {
    for (const [ref, context] of S.refs) if (context.kind === kind && context.room === room) S.refs.delete(ref);
  }

  function bindUi() {
    dom.statusRetry.addEventListener('click', () => { S.attempt = 0; reconnectNow(); });
    ParleyWeb.bindNotice(dom);
    dom.composer.addEventListener('submit', (e) => { e.preventDefault(); sendFromComposer(); });
    dom.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
        e.preventDefault();
        sendFromComposer();
      }
    });
    dom.input.addEventListener('input', () => { autoGrow(); updateComposer(); });
    dom.messages.addEventListener('scroll', onMessagesScroll, { passive: true });
    dom.jumpNew.addEventListener('click', () => { scrollToBottom(); dom.input.focus(); });
    dom.joinPromptButton.addEventListener('click', () => { if (S.current) joinRoom(S.current, true); });
    dom.membersMore.addEventListener('click', () => {
      const room = currentRoom();
      if (room && room.joined) requestMembers(room, room.membersCursor);
    });
    dom.menuButton.addEventListener('click', () => toggleDrawer('sidebar'));
    dom.membersButton.addEventListener('click', () => toggleDrawer('members'));
    dom.scrim.addEventListener('click', closeDrawers);
    for (const button of document.querySelectorAll('.drawer-close')) {
      button.addEventListener('click', () => {
        closeDrawers();
        (button.dataset.close === 'sidebar' ? dom.menuButton : dom.membersButton).focus();
      });
    }
    document.addEventListener('keydown', (e) => {
      if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        e.preventDefault();
        cycleRoom(e.key === 'ArrowUp' ? -1 : 1);
      } else if (e.key === 'Escape' && document.body.matches('.sidebar-open, .members-open')) {
        closeDrawers();
        dom.input.focus();
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && S.hiddenUnseen) { S.hiddenUnseen = 0; renderTitle(); }
    });
    window.addEventListener('online', () => { if (S.status === 'reconnecting') { S.attempt = 0; reconnectNow(); } });
  }

  // Plain-data hooks for browser tests.
  window.parleyChat = {
    socketState: () => S.status,
    joinedRooms: () => S.order.filter((n) => S.rooms.get(n)?.joined),
    messageIds: (name) => [...(S.rooms.get(name)?.ids ?? [])],
    currentRoom: () => S.current,
    me: () => S.me,
  };

  bindUi();
  renderAll();
  renderCurrentRoom();
  boot();
})();
