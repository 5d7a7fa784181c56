namespace Parley.Chat;

/// <summary>A room as room lists show it (<c>rs</c> of <c>login_successful</c> and <c>rooms</c>).</summary>
/// <param name="Name">The room's name (<c>n</c>).</param>
/// <param name="Description">What it is for (<c>d</c>).</param>
/// <param name="Users">Users in it now (<c>m</c>): in <c>rooms</c> events only, else null.</param>
public readonly record struct ChatRoomInfo(string Name, string Description, int? Users = null);
