using Microsoft.AspNetCore.SignalR;

// Usage: SignalRHub PORT — a SignalR hub at ws://127.0.0.1:PORT/hub whose Broadcast(payload)
// sends the payload to every connected client ("m"), the JSON protocol. What a .NET user would
// write for a chat room's fan-out; `parley bench broadcast --transport signalr --target …` drives it.
int port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 9600;
WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.ListenLocalhost(port);
    k.Limits.MaxConcurrentConnections = null;
});
builder.Services.AddSignalR(o => o.MaximumReceiveMessageSize = 1024 * 1024);
WebApplication app = builder.Build();
app.UseWebSockets();
app.MapHub<BroadcastHub>("/hub");
Console.WriteLine($"SignalR hub listening on 127.0.0.1:{port}");
app.Run();

internal sealed class BroadcastHub : Hub
{
    public Task Broadcast(string payload) => Clients.All.SendAsync("m", payload);
}
