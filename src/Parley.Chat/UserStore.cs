using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Parley.Chat;

/// <summary>
/// The users file (<c>users.json</c> in the data folder): names with PBKDF2-SHA256 password
/// hashes, a random 16-byte salt each. Written atomically (temporary file, flush, rename);
/// re-read when another process (<c>parley users add</c>) changed it. Thread-safe.
/// </summary>
public sealed class UserStore
{
    /// <summary>PBKDF2 iterations for new hashes; each user's count is stored with the hash, so it can be raised later.</summary>
    public const int Iterations = 100_000;

    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    private readonly string _path;
    private readonly Lock _lock = new();
    private Dictionary<string, StoredUser> _users = new(StringComparer.Ordinal);
    private DateTime _loadedWriteTime;

    // Verifying an unknown name costs the same as a known one, so timing does not tell which names exist.
    private static readonly StoredUser s_dummy = Hash("dummy", "not-a-password");

    private UserStore(string path) => _path = path;

    /// <summary>The file this store reads and writes.</summary>
    public string Path => _path;

    /// <summary>Opens the users file at <paramref name="path"/> (missing means no users yet).</summary>
    /// <exception cref="InvalidDataException">The file is not a valid users file.</exception>
    public static UserStore Open(string path)
    {
        var store = new UserStore(path);
        store.ReloadIfChanged();
        return store;
    }

    /// <summary>User names, sorted.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            ReloadIfChanged();
            lock (_lock)
            {
                return [.. _users.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Adds a user. False when the name exists.</summary>
    /// <exception cref="ArgumentException">The name breaks the naming rules or the password is empty.</exception>
    public bool Add(string name, string password, int maxNameLength = ChatLimits.DefaultMaxNameLength)
    {
        if (ChatLimits.NameProblem(name, maxNameLength) is { } problem)
        {
            throw new ArgumentException($"User name \"{name}\" {problem}.", nameof(name));
        }

        ArgumentException.ThrowIfNullOrEmpty(password);
        ReloadIfChanged();
        lock (_lock)
        {
            if (_users.ContainsKey(name))
            {
                return false;
            }

            _users[name] = Hash(name, password);
            Save();
            return true;
        }
    }

    /// <summary>Removes a user. False when there is none by that name.</summary>
    public bool Remove(string name)
    {
        ReloadIfChanged();
        lock (_lock)
        {
            if (!_users.Remove(name))
            {
                return false;
            }

            Save();
            return true;
        }
    }

    /// <summary>True when <paramref name="name"/> exists and <paramref name="password"/> is its password. Constant-time in the hash comparison.</summary>
    public bool Verify(string name, string password)
    {
        ReloadIfChanged();
        StoredUser? user;
        lock (_lock)
        {
            _users.TryGetValue(name, out user);
        }

        StoredUser stored = user ?? s_dummy;
        byte[] salt = Convert.FromBase64String(stored.Salt);
        byte[] expected = Convert.FromBase64String(stored.Hash);
        byte[] actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, stored.Iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected) && user is not null;
    }

    private static StoredUser Hash(string name, string password)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(SaltBytes);
        byte[] hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, HashBytes);
        return new StoredUser(name, Convert.ToBase64String(salt), Convert.ToBase64String(hash), Iterations, "PBKDF2-SHA256");
    }

    private void ReloadIfChanged()
    {
        DateTime writeTime = File.Exists(_path) ? File.GetLastWriteTimeUtc(_path) : DateTime.MinValue;
        lock (_lock)
        {
            if (writeTime == _loadedWriteTime)
            {
                return;
            }

            var users = new Dictionary<string, StoredUser>(StringComparer.Ordinal);
            if (writeTime != DateTime.MinValue)
            {
                UsersFile? file;
                try
                {
                    file = JsonSerializer.Deserialize(File.ReadAllBytes(_path), UsersJsonContext.Default.UsersFile);
                }
                catch (JsonException ex)
                {
                    throw new InvalidDataException($"{_path}: not a valid users file: {ex.Message}", ex);
                }

                foreach (StoredUser user in file?.Users ?? [])
                {
                    users[user.Name] = user;
                }
            }

            _users = users;
            _loadedWriteTime = writeTime;
        }
    }

    private void Save()
    {
        string? directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path));
        if (directory is not null)
        {
            DataFolder.Create(directory);
        }

        // Password hashes are secrets: the file is created 0600 (owner only). A temporary file
        // left by a crash may have another mode; start it afresh so the new mode applies.
        string temporary = _path + ".tmp";
        File.Delete(temporary);
        var file = new UsersFile([.. _users.Values.OrderBy(u => u.Name, StringComparer.Ordinal)]);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, create))
        {
            JsonSerializer.Serialize(stream, file, UsersJsonContext.Default.UsersFile);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, _path, overwrite: true);
        _loadedWriteTime = File.GetLastWriteTimeUtc(_path);
    }

    internal sealed record UsersFile([property: JsonPropertyName("users")] List<StoredUser> Users);

    internal sealed record StoredUser(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("salt")] string Salt,
        [property: JsonPropertyName("hash")] string Hash,
        [property: JsonPropertyName("iterations")] int Iterations,
        [property: JsonPropertyName("algorithm")] string Algorithm);
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(UserStore.UsersFile))]
internal sealed partial class UsersJsonContext : JsonSerializerContext;
