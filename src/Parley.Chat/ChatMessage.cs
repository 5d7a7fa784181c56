namespace Parley.Chat;

/// <summary>One stored chat message: a <c>user_message</c> event, or an entry of a <c>history</c> page.</summary>
/// <param name="Room">The room it was said in (<c>r</c>).</param>
/// <param name="Id">Its journal id (<c>id</c>): increasing within a server, never reused.</param>
/// <param name="Timestamp">When the server stored it (<c>t</c>, UTC).</param>
/// <param name="User">Who said it (<c>u</c>).</param>
/// <param name="Content">What was said (<c>c</c>).</param>
public sealed record ChatMessage(string Room, long Id, DateTimeOffset Timestamp, string User, string Content);
