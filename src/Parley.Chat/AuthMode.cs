namespace Parley.Chat;

/// <summary>How sessions get a user.</summary>
public enum AuthMode
{
    /// <summary>Each connection gets a generated user id and <c>login_successful</c> at once (rust-chat-server's behaviour).</summary>
    Open,

    /// <summary>The first command must be <c>login {u, p}</c> for a user in the users file.</summary>
    Required,
}
