using System.CommandLine;
using System.Globalization;
using Parley.Chat;
using Parley.Journal;

namespace Parley.Cli;

/// <summary><c>parley journal dump</c>: the stored messages as text lines.</summary>
internal static class JournalCommand
{
    public static Command Create()
    {
        var command = new Command("journal", "Read the chat server's message journal.");
        var data = new Option<string>("--data") { Description = "Data folder of the server.", DefaultValueFactory = _ => "parley-data" };
        var room = new Option<string?>("--room") { Description = "Only this room's messages." };
        Option<long> from = new Option<long>("--from") { Description = "First record id to print (record ids start at 1).", DefaultValueFactory = _ => 1 }.Range(1, long.MaxValue, "");
        var dump = new Command("dump", "Print every stored message: 'YYYY-MM-DD hh:mm:ss.ffffff -- #room user: text' (UTC), oldest first. Safe while the server runs.")
        {
            data, room, from,
        };
        dump.SetAction(async (parse, cancellationToken) =>
        {
            string directory = ChatServer.JournalPath(parse.GetValue(data)!);
            string? only = parse.GetValue(room);
            if (!Directory.Exists(directory))
            {
                await Console.Error.WriteLineAsync($"parley journal dump: no journal in {directory}");
                return 2;
            }

            using var output = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 64 * 1024);
            foreach (JournalRecord record in JournalReader.Read(directory, parse.GetValue(from), ChatRecord.MaxLength(1024 * 1024)))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!ChatRecord.TryRead(record.Payload.Span, out string roomName, out string user, out string content))
                {
                    await output.WriteLineAsync($"{Format(record.Timestamp)} -- record {record.Id}: not a chat message ({record.Payload.Length} bytes)");
                    continue;
                }

                if (only is null || only == roomName)
                {
                    await output.WriteLineAsync($"{Format(record.Timestamp)} -- #{roomName} {user}: {content}");
                }
            }

            return 0;
        });
        command.Subcommands.Add(dump);
        return command;
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
}
