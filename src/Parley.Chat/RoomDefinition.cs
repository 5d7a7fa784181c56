using System.Text.Json.Serialization;

namespace Parley.Chat;

/// <summary>A room as the rooms file names it: <c>{"name": …, "description": …}</c>
/// (rust-chat-server's <c>chat_rooms_metadatas.json</c> format).</summary>
/// <param name="Name">The room's name, unique, 1–32 characters by default (<see cref="ChatServerOptions.MaxNameLength"/>).</param>
/// <param name="Description">Free text shown in room lists.</param>
public sealed record RoomDefinition(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string Description);
