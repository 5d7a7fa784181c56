namespace Parley.Chat;

/// <summary>The events of the chat protocol (its <c>"_et"</c> tag; see <see cref="ChatProtocol.EventName"/>).</summary>
public enum ChatEventType
{
    /// <summary>A tag this version does not know: a newer server's event, to be ignored.</summary>
    Unknown,

    /// <summary><c>login_successful</c>: <see cref="LoginSuccessfulEvent"/>.</summary>
    LoginSuccessful,

    /// <summary><c>user_joined_room</c>: <see cref="UserJoinedRoomEvent"/>.</summary>
    UserJoinedRoom,

    /// <summary><c>room_participation</c>: <see cref="RoomParticipationEvent"/>.</summary>
    RoomParticipation,

    /// <summary><c>user_message</c>: <see cref="UserMessageEvent"/>.</summary>
    UserMessage,

    /// <summary><c>message_ack</c>: <see cref="MessageAckEvent"/>.</summary>
    MessageAck,

    /// <summary><c>rooms</c>: <see cref="RoomsEvent"/>.</summary>
    Rooms,

    /// <summary><c>room_users</c>: <see cref="RoomUsersEvent"/>.</summary>
    RoomUsers,

    /// <summary><c>history</c>: <see cref="HistoryEvent"/>.</summary>
    History,

    /// <summary><c>pong</c>: <see cref="PongEvent"/>.</summary>
    Pong,

    /// <summary><c>error</c>: <see cref="ErrorEvent"/>.</summary>
    Error,
}
