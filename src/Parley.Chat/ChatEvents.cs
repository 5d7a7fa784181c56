namespace Parley.Chat;

/// <summary>
/// One event of the chat protocol, as <see cref="ChatEventReader"/> reads it. The derived
/// records below are the protocol's events (docs/wire-formats.md, "Events"); a tag this version
/// does not know reads as <see cref="UnknownEvent"/>.
/// </summary>
public abstract record ChatEvent
{
    /// <summary>Which event this is.</summary>
    public abstract ChatEventType Type { get; }
}

/// <summary><c>login_successful</c>: the session started (on an open server, before any command).</summary>
/// <param name="Session">The session's id (<c>s</c>).</param>
/// <param name="User">The user the session acts as (<c>u</c>); an open server makes one up.</param>
/// <param name="Rooms">The rooms, as many as fit one event (<c>rs</c>).</param>
/// <param name="More">The room list was cut: page with <c>list_rooms</c> <c>after</c>.</param>
/// <param name="Total">Rooms in all (<c>n</c>).</param>
public sealed record LoginSuccessfulEvent(string Session, string User, IReadOnlyList<ChatRoomInfo> Rooms, bool More, int Total) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.LoginSuccessful;
}

/// <summary><c>user_joined_room</c>: the answer to <c>join_room</c>.</summary>
/// <param name="Room">The room joined (<c>r</c>).</param>
/// <param name="Users">Its users, sorted, as many as fit one event (<c>us</c>).</param>
/// <param name="More">The list was cut: page with <c>list_users</c> <c>after</c>.</param>
/// <param name="Total">Users in the room (<c>n</c>).</param>
public sealed record UserJoinedRoomEvent(string Room, IReadOnlyList<string> Users, bool More, int Total) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.UserJoinedRoom;
}

/// <summary><c>room_participation</c>: a user's first session joined a room, or its last one left it.</summary>
/// <param name="Room">The room (<c>r</c>).</param>
/// <param name="User">The user (<c>u</c>).</param>
/// <param name="Joined">True for <c>"s":"joined"</c>, false for <c>"left"</c>.</param>
public sealed record RoomParticipationEvent(string Room, string User, bool Joined) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.RoomParticipation;
}

/// <summary><c>user_message</c>: a message stored in a room the session is in (its own included).</summary>
/// <param name="Message">The message.</param>
public sealed record UserMessageEvent(ChatMessage Message) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.UserMessage;
}

/// <summary><c>message_ack</c>: the session's message is stored (durable as the server's durability says).</summary>
/// <param name="Room">The room (<c>r</c>).</param>
/// <param name="Id">The message's journal id (<c>id</c>): the same as in its <c>user_message</c>.</param>
/// <param name="Ref">The <c>ref</c> the <c>send_message</c> carried, if any.</param>
public sealed record MessageAckEvent(string Room, long Id, long? Ref = null) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.MessageAck;
}

/// <summary><c>rooms</c>: a page of the room list, with how many users each has.</summary>
/// <param name="Rooms">The rooms (<c>rs</c>), <see cref="ChatRoomInfo.Users"/> set.</param>
/// <param name="More">More rooms follow (<c>list_rooms</c> <c>after</c> the last).</param>
/// <param name="Total">Rooms in all (<c>n</c>).</param>
public sealed record RoomsEvent(IReadOnlyList<ChatRoomInfo> Rooms, bool More, int Total) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.Rooms;
}

/// <summary><c>room_users</c>: a page of a room's users, sorted.</summary>
/// <param name="Room">The room (<c>r</c>).</param>
/// <param name="Users">The users (<c>us</c>).</param>
/// <param name="More">More follow (<c>list_users</c> <c>after</c> the last).</param>
/// <param name="Total">Users in the room (<c>n</c>).</param>
public sealed record RoomUsersEvent(string Room, IReadOnlyList<string> Users, bool More, int Total) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.RoomUsers;
}

/// <summary><c>history</c>: the newest messages of a room before the id asked for, oldest first.</summary>
/// <param name="Room">The room (<c>r</c>).</param>
/// <param name="Messages">The messages (<c>ms</c>), oldest first.</param>
/// <param name="More">Older messages are kept: ask again with <c>before</c> the first id.</param>
public sealed record HistoryEvent(string Room, IReadOnlyList<ChatMessage> Messages, bool More) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.History;
}

/// <summary><c>pong</c>: the answer to <c>ping</c>.</summary>
public sealed record PongEvent : ChatEvent
{
    /// <summary>The one pong (it carries nothing).</summary>
    public static PongEvent Instance { get; } = new();

    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.Pong;
}

/// <summary><c>error</c>: a command was refused, or the server reports a fault before it closes.</summary>
/// <param name="Error">The code, message, refused command and its <c>ref</c>.</param>
public sealed record ErrorEvent(ChatError Error) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.Error;
}

/// <summary>An event whose tag this version does not know (forward compatibility: ignore it).</summary>
/// <param name="Name">Its <c>"_et"</c> tag.</param>
public sealed record UnknownEvent(string Name) : ChatEvent
{
    /// <inheritdoc />
    public override ChatEventType Type => ChatEventType.Unknown;
}
