using System.Text;

namespace Parley.Chat.Tests;

public class RoomsFileTests
{
    private static IReadOnlyList<RoomDefinition> Parse(string json) => RoomsFile.Parse(Encoding.UTF8.GetBytes(json), "rooms.json");

    [Fact]
    public void A_rust_chat_server_rooms_file_loads()
    {
        IReadOnlyList<RoomDefinition> rooms = Parse("""
            [
              { "name": "general", "description": "General chat" },
              { "name": "rust", "description": "All about Rust", "extra": [1, 2] }
            ]
            """);
        Assert.Equal([new RoomDefinition("general", "General chat"), new RoomDefinition("rust", "All about Rust")], rooms);
    }

    [Theory]
    [InlineData("[\n  {\"name\": \"a\", \"description\": \"x\"},\n  {\"name\": \"b\" \"description\": \"y\"}\n]", 3, "not valid JSON")]
    [InlineData("{\"name\": \"a\"}", 1, "expected a JSON array")]
    [InlineData("[\n  {\"name\": \"a\"},\n  {\"name\": \"a\"}\n]", 3, "listed twice")]
    [InlineData("[\n\n  {\"description\": \"no name\"}\n]", 3, "has no \"name\"")]
    [InlineData("[\n  {\"name\": \"has space\"}\n]", 2, "may hold only")]
    [InlineData("[\n  {\"name\": 7}\n]", 2, "must be a string")]
    [InlineData("[\n  \"general\"\n]", 2, "must be an object")]
    [InlineData("[]", 0, "lists no rooms")]
    public void A_malformed_rooms_file_is_rejected_with_the_file_line_and_reason(string json, int line, string reason)
    {
        var error = Assert.Throws<RoomsFileException>(() => Parse(json));
        Assert.StartsWith(line > 0 ? $"rooms.json:{line}:" : "rooms.json:", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void A_name_longer_than_a_journal_record_can_store_is_rejected_even_within_the_character_limit()
    {
        // 86 three-byte characters: 258 bytes, within a 200-character limit but not the record's 255.
        string name = new('語', 86);
        var error = Assert.Throws<RoomsFileException>(() => RoomsFile.Parse(Encoding.UTF8.GetBytes($"[{{\"name\": \"{name}\"}}]"), "rooms.json", maxNameLength: 200));
        Assert.Contains("255 bytes", error.Message);
        Assert.Single(RoomsFile.Parse(Encoding.UTF8.GetBytes($"[{{\"name\": \"{name[..85]}\"}}]"), "rooms.json", maxNameLength: 200));
    }

    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        var error = Assert.Throws<RoomsFileException>(() => RoomsFile.Load("/nonexistent/rooms.json"));
        Assert.Contains("/nonexistent/rooms.json", error.Message);
    }
}
