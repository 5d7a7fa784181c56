using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Parley.Chat;
using Parley.Chat.Nats;

namespace Parley.Cli;

/// <summary><c>parley cluster status</c>: the nodes of a chat cluster and the stream they share.</summary>
internal static class ClusterCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--cluster") { Description = "The NATS server(s) the nodes use: nats://host:port.", DefaultValueFactory = _ => "nats://127.0.0.1:4222" };
        var stream = new Option<string>("--cluster-stream") { Description = "The stream the nodes share.", DefaultValueFactory = _ => "PARLEY" };
        Option<double> listen = new Option<double>("--listen") { Description = "Seconds to listen for the nodes' heartbeats (they beat every second).", DefaultValueFactory = _ => 2.5 }
            .Range(0.1, 60, "--listen");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var creds = new Option<string?>("--cluster-creds") { Description = "A NATS credentials file (.creds), as the nodes use." };
        var status = new Command("status", "Show the stream (messages, sequences, replicas), messages per room, and each node: users, last delivered sequence and lag.")
        {
            url, stream, listen, json, creds,
        };
        status.SetAction(async (parse, cancellationToken) =>
        {
            NatsClusterStatus state;
            try
            {
                state = await NatsClusterStatus.ReadAsync(parse.GetValue(url)!, parse.GetValue(stream)!, "parley", TimeSpan.FromSeconds(parse.GetValue(listen)), cancellationToken, parse.GetValue(creds));
            }
            catch (ChatBackplaneUnavailableException ex)
            {
                await Console.Error.WriteLineAsync($"parley cluster status: {ex.Message}");
                return 1;
            }

            await Console.Out.WriteAsync(parse.GetValue(json) ? ToJson(state) : ToText(state));
            return 0;
        });
        return new Command("cluster", "Look at a cluster of chat nodes (parley serve --cluster).") { status };
    }

    internal static string ToText(NatsClusterStatus state)
    {
        var text = new System.Text.StringBuilder();
        CultureInfo c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"stream {state.Stream} on {state.Url}: {state.Messages} messages, {state.Bytes / 1024.0:0.#} KiB, sequences {state.FirstSequence}..{state.LastSequence}, {state.Replicas} replica(s){(state.Leader is null ? "" : $", leader {state.Leader}")}");
        foreach ((string name, bool current, long lag) in state.Peers)
        {
            text.AppendLine(c, $"  replica {name}: {(current ? "current" : "behind")}, lag {lag}");
        }

        text.AppendLine(c, $"rooms with messages: {state.Rooms.Count}");
        foreach ((string room, long messages) in state.Rooms)
        {
            text.AppendLine(c, $"  {room,-32} {messages,10} messages");
        }

        text.AppendLine(c, $"nodes heard: {state.Nodes.Count}");
        if (state.Nodes.Count > 0)
        {
            text.AppendLine(c, $"  {"node",-24} {"users",8} {"delivered",12} {"lag",8}  addresses");
            foreach (NatsNodeInfo node in state.Nodes)
            {
                long lag = Math.Max(0, state.LastSequence - node.Delivered);
                text.AppendLine(c, $"  {node.Name,-24} {node.Users,8} {node.Delivered,12} {lag,8}  {node.Addresses}");
            }
        }

        return text.ToString();
    }

    internal static string ToJson(NatsClusterStatus state)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("url", state.Url);
            json.WriteString("stream", state.Stream);
            json.WriteNumber("messages", state.Messages);
            json.WriteNumber("bytes", state.Bytes);
            json.WriteNumber("first_seq", state.FirstSequence);
            json.WriteNumber("last_seq", state.LastSequence);
            json.WriteNumber("replicas", state.Replicas);
            if (state.Leader is not null)
            {
                json.WriteString("leader", state.Leader);
            }

            json.WriteStartArray("peers");
            foreach ((string name, bool current, long lag) in state.Peers)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteBoolean("current", current);
                json.WriteNumber("lag", lag);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("rooms");
            foreach ((string room, long messages) in state.Rooms)
            {
                json.WriteNumber(room, messages);
            }

            json.WriteEndObject();
            json.WriteStartArray("nodes");
            foreach (NatsNodeInfo node in state.Nodes)
            {
                json.WriteStartObject();
                json.WriteString("name", node.Name);
                json.WriteString("instance", node.Instance);
                json.WriteNumber("users", node.Users);
                json.WriteNumber("delivered", node.Delivered);
                json.WriteNumber("lag", Math.Max(0, state.LastSequence - node.Delivered));
                if (node.Addresses is not null)
                {
                    json.WriteString("addresses", node.Addresses);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + Environment.NewLine;
    }
}
