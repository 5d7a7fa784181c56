namespace Parley.Chat;

/// <summary>The commands of the chat protocol (its <c>"_ct"</c> tag; see <see cref="ChatProtocol.CommandName"/>).</summary>
public enum ChatCommandType
{
    /// <summary><c>login</c>: <c>u</c> user, <c>p</c> password (servers requiring login).</summary>
    Login,

    /// <summary><c>join_room</c>: <c>r</c> room.</summary>
    JoinRoom,

    /// <summary><c>leave_room</c>: <c>r</c> room.</summary>
    LeaveRoom,

    /// <summary><c>send_message</c>: <c>r</c> room, <c>c</c> content, <c>ref</c> optional.</summary>
    SendMessage,

    /// <summary><c>quit</c>: the server closes the connection gracefully.</summary>
    Quit,

    /// <summary><c>list_rooms</c>: <c>after</c> optional.</summary>
    ListRooms,

    /// <summary><c>list_users</c>: <c>r</c> room, <c>after</c> optional.</summary>
    ListUsers,

    /// <summary><c>history</c>: <c>r</c> room, <c>before</c> and <c>limit</c> optional.</summary>
    History,

    /// <summary><c>ping</c>: answered by <c>pong</c>.</summary>
    Ping,

    /// <summary><c>watch_metrics</c>: answered by <c>metrics_history</c>, then a <c>metrics</c> event a second (when the server publishes them).</summary>
    WatchMetrics,

    /// <summary><c>unwatch_metrics</c>: stops the <c>metrics</c> events.</summary>
    UnwatchMetrics,
}
