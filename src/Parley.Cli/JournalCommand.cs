using System.CommandLine;
using System.Globalization;
using Parley.Chat;
using Parley.Journal;

namespace Parley.Cli;

/// <summary><c>parley journal dump</c>: the stored messages as text lines.</summary>
internal static class JournalCommand
{
    private static readonly int MaxRecordBytes = ChatRecord.MaxLength(1024 * 1024);

    public static Command Create()
    {
        var command = new Command("journal", "Read, check and repair the chat server's message journal.");
        command.Subcommands.Add(Dump());
        command.Subcommands.Add(Verify());
        command.Subcommands.Add(Repair());
        return command;
    }

    /// <summary>Says so on stderr when there is no journal at <paramref name="directory"/>.</summary>
    private static async Task<bool> NoJournalAsync(string directory, string verb)
    {
        if (Directory.Exists(directory))
        {
            return false;
        }

        await Console.Error.WriteLineAsync($"parley journal {verb}: no journal in {directory}");
        return true;
    }

    private static Option<string> DataOption() => new("--data") { Description = "Data folder of the server.", DefaultValueFactory = _ => "parley-data" };

    private static async Task<int> DumpClusterAsync(string url, string stream, string? credentials, string? only, long from, CancellationToken cancellationToken)
    {
        using var output = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 64 * 1024);
        try
        {
            await foreach ((long id, DateTimeOffset timestamp, byte[] record) in Parley.Chat.Nats.NatsStreamReader.ReadAsync(url, stream, "parley", from, credentials, cancellationToken))
            {
                if (!ChatRecord.TryRead(record, out string roomName, out string user, out string content))
                {
                    await output.WriteLineAsync($"{Format(timestamp)} -- record {id}: not a chat message ({record.Length} bytes)");
                    continue;
                }

                if (only is null || only == roomName)
                {
                    await output.WriteLineAsync($"{Format(timestamp)} -- #{roomName} {user}: {content}");
                }
            }
        }
        catch (ChatBackplaneUnavailableException ex)
        {
            await output.FlushAsync(CancellationToken.None);
            await Console.Error.WriteLineAsync($"parley journal dump: {ex.Message}");
            return 2;
        }

        return 0;
    }

    private static Command Dump()
    {
        Option<string> data = DataOption();
        var room = new Option<string?>("--room") { Description = "Only this room's messages." };
        Option<long> from = new Option<long>("--from") { Description = "First record id to print (record ids start at 1).", DefaultValueFactory = _ => 1 }.Range(1, long.MaxValue, "");
        var cluster = new Option<string?>("--cluster") { Description = "Read a cluster's shared stream on this NATS server (nats://host:port) instead of a data folder's journal: what every node serves as history." };
        var clusterStream = new Option<string>("--cluster-stream") { Description = "With --cluster: the stream's name.", DefaultValueFactory = _ => "PARLEY" };
        var clusterCreds = new Option<string?>("--cluster-creds") { Description = "With --cluster: a NATS credentials file (.creds)." };
        var dump = new Command("dump", "Print every stored message: 'YYYY-MM-DD hh:mm:ss.ffffff -- #room user: text' (UTC), oldest first. Safe while the server runs. Damage is skipped, reported on stderr, and makes the exit code 1. With --cluster: the cluster's stream (ids are its sequences).")
        {
            data, room, from, cluster, clusterStream, clusterCreds,
        };
        dump.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(cluster) is { } url)
            {
                return await DumpClusterAsync(url, parse.GetValue(clusterStream)!, parse.GetValue(clusterCreds), parse.GetValue(room), parse.GetValue(from), cancellationToken);
            }

            string directory = ChatServer.JournalPath(parse.GetValue(data)!);
            string? only = parse.GetValue(room);
            if (await NoJournalAsync(directory, "dump"))
            {
                return 2;
            }

            var problems = new List<JournalProblem>();
            using (var output = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 64 * 1024))
            {
                foreach (JournalRecord record in JournalReader.Read(directory, parse.GetValue(from), MaxRecordBytes, problems))
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
            }

            // A server writing right now may have its newest record half on disk: not damage.
            if (problems.Count > 0 && problems.All(InFlight) && JournalReader.IsInUse(directory))
            {
                problems.Clear();
            }

            foreach (JournalProblem problem in problems)
            {
                await Console.Error.WriteLineAsync($"parley journal dump: warning: {problem}");
            }

            if (problems.Count > 0)
            {
                await Console.Error.WriteLineAsync($"parley journal dump: the journal is damaged ({problems.Count} problem(s)); see 'parley journal verify'");
            }

            return problems.Count > 0 ? 1 : 0;
        });
        return dump;
    }

    /// <summary>What a running server's writes in progress look like to a reader: the newest record half
    /// written, or a segment being created (at most a header so far).</summary>
    private static bool InFlight(JournalProblem problem) =>
        problem.Kind == JournalProblemKind.TornTail
        || (problem.Kind == JournalProblemKind.UnreadableSegment && problem.Length <= 32);

    private static Command Verify()
    {
        Option<string> data = DataOption();
        var verify = new Command("verify", "Check the journal without changing it: every record's checksum, the id sequence, segment headers, missing segments. Exit code 0 when clean, 1 when damaged, 2 when there is no journal.")
        {
            data,
        };
        verify.SetAction(async (parse, cancellationToken) =>
        {
            string directory = ChatServer.JournalPath(parse.GetValue(data)!);
            if (await NoJournalAsync(directory, "verify"))
            {
                return 2;
            }

            JournalVerification report = await Task.Run(() => JournalReader.Verify(directory, MaxRecordBytes), cancellationToken);
            await Console.Out.WriteLineAsync($"{directory}: {report.Segments} segment(s), {report.Records} record(s){(report.Records > 0 ? $" (ids {report.FirstId}..{report.LastId})" : "")}");
            foreach (JournalProblem problem in report.Problems)
            {
                await Console.Out.WriteLineAsync($"{(problem.LosesData ? "LOST" : "warning")}: {problem}");
            }

            bool live = report.Problems.All(InFlight) && JournalReader.IsInUse(directory);
            string verdict = report.Clean ? "clean"
                : live ? "clean, except the newest record, which a running server may be writing"
                : report.LosesData ? "DAMAGED: messages that may have been acknowledged are lost; 'parley serve' refuses to start until 'parley journal repair' or --accept-journal-damage"
                : "damaged, nothing lost: 'parley serve' starts and sets the damage aside";
            await Console.Out.WriteLineAsync(verdict);
            return report.Clean || live ? 0 : 1;
        });
        return verify;
    }

    private static Command Repair()
    {
        Option<string> data = DataOption();
        var repair = new Command("repair", "Rewrite a damaged journal from what survives (each valid record once, ids kept, new ids past any the old journal handed out). The original folder is kept beside it as journal.damaged-TIMESTAMP. Refused while a server uses the journal.")
        {
            data,
        };
        repair.SetAction(async (parse, cancellationToken) =>
        {
            string directory = ChatServer.JournalPath(parse.GetValue(data)!);
            if (await NoJournalAsync(directory, "repair"))
            {
                return 2;
            }

            JournalRepairResult result;
            try
            {
                result = await Task.Run(() => Parley.Journal.Journal.Repair(new JournalOptions { Directory = directory, MaxRecordBytes = MaxRecordBytes, MaxPendingBytes = MaxRecordBytes + 1024 }), cancellationToken);
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"parley journal repair: {ex.Message}");
                return 1;
            }

            if (!result.Repaired)
            {
                await Console.Out.WriteLineAsync($"{directory} is clean: nothing to repair ({result.Records} record(s)).");
                return 0;
            }

            foreach (JournalProblem problem in result.Problems)
            {
                await Console.Out.WriteLineAsync($"{(problem.LosesData ? "lost" : "fixed")}: {problem}");
            }

            await Console.Out.WriteLineAsync(
                $"repaired: {result.Records} record(s){(result.Records > 0 ? $" (ids {result.FirstId}..{result.LastId})" : "")} rewritten in {directory}; new messages start at id {result.NextId}; the original is kept in {result.BackupDirectory}");
            return 0;
        });
        return repair;
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
}
