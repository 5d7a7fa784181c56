using System.CommandLine;
using Parley.Chat;
using Spectre.Console;

namespace Parley.Cli;

/// <summary><c>parley users add|remove|list</c>: the users of <c>parley serve --auth required</c>.</summary>
internal static class UsersCommand
{
    public static Command Create()
    {
        var command = new Command("users", "Manage the users of 'parley serve --auth required' (stored hashed in DATA/users.json).");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(List());
        return command;
    }

    private static Option<string> Data() => new("--data") { Description = "Data folder of the server.", DefaultValueFactory = _ => "parley-data" };

    private static Command Add()
    {
        var name = new Argument<string>("name") { Description = "User name: letters, digits, '-', '_', '.'; at most 32 characters." };
        Option<string> data = Data();
        var command = new Command("add", "Add a user. The password is read from standard input when it is redirected (first line), else prompted for twice.") { name, data };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = parse.GetValue(name)!;
            if (ChatLimits.NameProblem(user, ChatLimits.DefaultMaxNameLength) is { } problem)
            {
                await Console.Error.WriteLineAsync($"parley users add: user name \"{user}\" {problem}");
                return 2;
            }

            string? password = await ReadPasswordAsync(cancellationToken);
            if (string.IsNullOrEmpty(password))
            {
                await Console.Error.WriteLineAsync("parley users add: no password given (or the two entries differ)");
                return 2;
            }

            UserStore store = UserStore.Open(ChatServer.UsersPath(parse.GetValue(data)!));
            if (!store.Add(user, password))
            {
                await Console.Error.WriteLineAsync($"parley users add: user \"{user}\" exists already");
                return 1;
            }

            await Console.Out.WriteLineAsync($"added user {user} to {store.Path}");
            return 0;
        });
        return command;
    }

    private static async Task<string?> ReadPasswordAsync(CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected)
        {
            return (await Console.In.ReadLineAsync(cancellationToken))?.TrimEnd('\r');
        }

        string first = AnsiConsole.Prompt(new TextPrompt<string>("password:").Secret());
        string second = AnsiConsole.Prompt(new TextPrompt<string>("again:").Secret());
        return first == second ? first : null;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("name") { Description = "User name." };
        Option<string> data = Data();
        var command = new Command("remove", "Remove a user (sessions already logged in stay until they disconnect).") { name, data };
        command.SetAction(async (parse, _) =>
        {
            UserStore store = UserStore.Open(ChatServer.UsersPath(parse.GetValue(data)!));
            string user = parse.GetValue(name)!;
            if (!store.Remove(user))
            {
                await Console.Error.WriteLineAsync($"parley users remove: no user \"{user}\"");
                return 1;
            }

            await Console.Out.WriteLineAsync($"removed user {user}");
            return 0;
        });
        return command;
    }

    private static Command List()
    {
        Option<string> data = Data();
        var command = new Command("list", "List the users, one per line.") { data };
        command.SetAction(async (parse, _) =>
        {
            foreach (string user in UserStore.Open(ChatServer.UsersPath(parse.GetValue(data)!)).Names)
            {
                await Console.Out.WriteLineAsync(user);
            }

            return 0;
        });
        return command;
    }
}
