using System.Buffers;
using System.Text.Json;

namespace Parley.Chat.Nats;

internal enum PresenceKind
{
    Heartbeat,
    Delta,
    Goodbye,
}

/// <summary>
/// What nodes say to each other on <c>PREFIX.nodes</c> (JSON, docs/scale-out.md "Presence"):
/// <c>{"k":"hb","id":…,"n":…,"v":…,"u":…,"d":…,"l":…,"a":…}</c> a heartbeat,
/// <c>{"k":"p","id":…,"n":…,"v":…,"r":…,"u":…,"j":true}</c> a user entering (or leaving) a room,
/// <c>{"k":"bye","id":…,"n":…}</c> a node going away. Snapshots: the request <c>{"o":OFFSET}</c>,
/// the reply <c>{"v":…,"e":[[room,user],…],"next":N}</c> (−1 on the last page).
/// </summary>
internal readonly record struct PresenceMessage(PresenceKind Kind, string Instance, string Name, long Version, string? Room, string? User, bool Present, int Users, long Delivered, long Lag, string? Addresses)
{
    public static byte[] Heartbeat(string instance, string name, long version, int users, long delivered, long lag, string? addresses) => Write(json =>
    {
        json.WriteString("k", "hb");
        json.WriteString("id", instance);
        json.WriteString("n", name);
        json.WriteNumber("v", version);
        json.WriteNumber("u", users);
        json.WriteNumber("d", delivered);
        json.WriteNumber("l", lag);
        if (addresses is not null)
        {
            json.WriteString("a", addresses);
        }
    });

    public static byte[] Delta(string instance, string name, long version, string room, string user, bool present) => Write(json =>
    {
        json.WriteString("k", "p");
        json.WriteString("id", instance);
        json.WriteString("n", name);
        json.WriteNumber("v", version);
        json.WriteString("r", room);
        json.WriteString("u", user);
        json.WriteBoolean("j", present);
    });

    public static byte[] Goodbye(string instance, string name) => Write(json =>
    {
        json.WriteString("k", "bye");
        json.WriteString("id", instance);
        json.WriteString("n", name);
    });

    /// <summary>A page request: from <paramref name="offset"/> of the copy made at <paramref name="version"/> (−1: a new copy).</summary>
    public static byte[] SnapshotRequest(int offset, long version) => Write(json =>
    {
        json.WriteNumber("o", offset);
        json.WriteNumber("v", version);
    });

    public static byte[] Snapshot(long version, (string Room, string User)[] entries, int next) => Write(json =>
    {
        json.WriteNumber("v", version);
        json.WriteStartArray("e");
        foreach ((string room, string user) in entries)
        {
            json.WriteStartArray();
            json.WriteStringValue(room);
            json.WriteStringValue(user);
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteNumber("next", next);
    });

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a heartbeat, delta or goodbye; false for anything else (ignored: a newer node may say more).</summary>
    public static bool TryRead(ReadOnlySpan<byte> utf8, out PresenceMessage message)
    {
        message = default;
        string? kind = null, instance = null, name = null, room = null, user = null, addresses = null;
        long version = -1, delivered = 0, lag = 0;
        int users = 0;
        bool present = false;
        try
        {
            var json = new Utf8JsonReader(utf8);
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                string property = json.GetString()!;
                json.Read();
                switch (property)
                {
                    case "k": kind = json.GetString(); break;
                    case "id": instance = json.GetString(); break;
                    case "n": name = json.GetString(); break;
                    case "v": version = json.GetInt64(); break;
                    case "r": room = json.GetString(); break;
                    case "u" when json.TokenType == JsonTokenType.String: user = json.GetString(); break;
                    case "u": users = json.GetInt32(); break;
                    case "j": present = json.GetBoolean(); break;
                    case "d": delivered = json.GetInt64(); break;
                    case "l": lag = json.GetInt64(); break;
                    case "a": addresses = json.GetString(); break;
                    default: json.Skip(); break;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }

        // Whatever comes from the bus is checked before it names a subject or a dictionary entry:
        // instance and node names are short tokens, rooms and users bounded like the chat's own names.
        if (!IsToken(instance, 80) || !IsToken(name, 64) || (room is not null && !IsName(room)) || (user is not null && !IsName(user)) || (addresses?.Length > 512))
        {
            return false;
        }

        switch (kind)
        {
            case "hb" when version >= 0:
                message = new PresenceMessage(PresenceKind.Heartbeat, instance, name, version, null, null, false, users, delivered, lag, addresses);
                return true;
            case "p" when version >= 0 && room is not null && user is not null:
                message = new PresenceMessage(PresenceKind.Delta, instance, name, version, room, user, present, 0, 0, 0, null);
                return true;
            case "bye":
                message = new PresenceMessage(PresenceKind.Goodbye, instance, name, 0, null, null, false, 0, 0, 0, null);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A node name or instance: 1 to <paramref name="max"/> letters, digits, <c>-</c> or <c>_</c> (safe in a subject).</summary>
    internal static bool IsToken([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? text, int max)
    {
        if (text is null || text.Length == 0 || text.Length > max)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A room or user name as a chat record can hold one (at most 255 UTF-8 bytes, not empty).</summary>
    internal static bool IsName(string text) => text.Length is > 0 and <= 255 && System.Text.Encoding.UTF8.GetByteCount(text) <= 255;

    public static bool TryReadSnapshotRequest(ReadOnlySpan<byte> utf8, out int offset, out long version)
    {
        offset = 0;
        version = -1;
        try
        {
            var json = new Utf8JsonReader(utf8);
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                bool isOffset = json.ValueTextEquals("o"u8);
                bool isVersion = json.ValueTextEquals("v"u8);
                json.Read();
                if (isOffset)
                {
                    offset = json.GetInt32();
                }
                else if (isVersion)
                {
                    version = json.GetInt64();
                }
                else
                {
                    json.Skip();
                }
            }

            return offset >= 0;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    /// <summary>Reads a snapshot page into <paramref name="entries"/>.</summary>
    public static bool TryReadSnapshot(ReadOnlySpan<byte> utf8, HashSet<(string, string)> entries, out long version, out int next)
    {
        version = -1;
        next = -1;
        try
        {
            var json = new Utf8JsonReader(utf8);
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                string property = json.GetString()!;
                json.Read();
                switch (property)
                {
                    case "v":
                        version = json.GetInt64();
                        break;
                    case "next":
                        next = json.GetInt32();
                        break;
                    case "e":
                        if (json.TokenType != JsonTokenType.StartArray)
                        {
                            return false;
                        }

                        while (json.Read() && json.TokenType == JsonTokenType.StartArray)
                        {
                            json.Read();
                            string? room = json.GetString();
                            json.Read();
                            string? user = json.GetString();
                            json.Read(); // EndArray
                            if (json.TokenType != JsonTokenType.EndArray || room is null || user is null || !IsName(room) || !IsName(user))
                            {
                                return false;
                            }

                            entries.Add((room, user));
                        }

                        break;
                    default:
                        json.Skip();
                        break;
                }
            }

            return version >= 0;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }
}
