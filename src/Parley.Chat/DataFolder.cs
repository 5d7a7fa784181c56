namespace Parley.Chat;

/// <summary>
/// The chat server's data folder and what it holds: people's messages (the journal) and
/// password hashes (the users file). The folder is created 0750, the users file 0600, the
/// journal's files 0640; wider modes found at start are reported, not changed.
/// </summary>
public static class DataFolder
{
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    /// <summary>Creates <paramref name="path"/> (and missing parents) with mode 0750 on Unix.</summary>
    public static void Create(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, FolderMode);
        }
    }

    /// <summary>
    /// What is too open in the data folder <paramref name="path"/>: the folder itself readable by
    /// other users, or a users file readable by anyone but its owner. One sentence per problem;
    /// none on Windows (ACLs) or when all is private.
    /// </summary>
    public static IReadOnlyList<string> Problems(string path)
    {
        var problems = new List<string>();
        if (OperatingSystem.IsWindows() || !Directory.Exists(path))
        {
            return problems;
        }

        UnixFileMode folder = File.GetUnixFileMode(path);
        if ((folder & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
        {
            problems.Add($"the data folder {path} is open to other users (mode {Octal(folder)}): chmod 750 it");
        }

        string users = ChatServer.UsersPath(path);
        if (File.Exists(users))
        {
            UnixFileMode mode = File.GetUnixFileMode(users);
            if ((mode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) != 0)
            {
                problems.Add($"the users file {users} holds password hashes but is readable by others (mode {Octal(mode)}): chmod 600 it");
            }
        }

        return problems;
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');
}
