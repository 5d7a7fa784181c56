using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>Issue 15, item 5: secrets are created private, data group-readable at most, and wider modes are reported.</summary>
public class FileModeTests
{
    private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task The_users_file_is_created_0600_and_the_data_and_journal_folders_0750_with_0640_segments()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Unix file modes only
        }

        string root = Path.Combine(Path.GetTempPath(), "parley-modes-" + Guid.NewGuid().ToString("N"));
        string data = Path.Combine(root, "data");
        try
        {
            Assert.True(UserStore.Open(ChatServer.UsersPath(data)).Add("alice", "correct horse"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ChatServer.UsersPath(data)));
            Assert.Equal(Rwx | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(data));

            await using (ChatServer chat = ChatServer.Open(new ChatServerOptions { DataDirectory = data, Auth = AuthMode.Required }))
            {
                string journal = ChatServer.JournalPath(data);
                Assert.Equal(Rwx | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(journal));
                string[] files = Directory.GetFiles(journal);
                Assert.NotEmpty(files);
                foreach (string file in files)
                {
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(file));
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_world_readable_users_file_and_journal_are_reported_at_start()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Unix file modes only
        }

        string data = Path.Combine(Path.GetTempPath(), "parley-modes-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.True(UserStore.Open(ChatServer.UsersPath(data)).Add("alice", "correct horse"));
            await (ChatServer.Open(new ChatServerOptions { DataDirectory = data })).DisposeAsync();
            const UnixFileMode Open = Rwx | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            File.SetUnixFileMode(ChatServer.UsersPath(data), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.SetUnixFileMode(ChatServer.JournalPath(data), Open);

            var logs = new CapturingLoggerFactory();
            await (ChatServer.Open(new ChatServerOptions { DataDirectory = data, LoggerFactory = logs })).DisposeAsync();
            Assert.True(logs.Contains(609, "chmod 600"), string.Join("\n", logs.Entries));
            Assert.True(logs.Contains(507, "chmod 750"), string.Join("\n", logs.Entries));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
