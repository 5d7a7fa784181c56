using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Tests;

/// <summary>Issue 15, item 4: one address cannot take every slot, and a refused peer is told why.</summary>
public class AdmissionTests
{
    private static async Task<Socket> ConnectFromAsync(ParleyServer server, string localAddress)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(localAddress), 0));
        await socket.ConnectAsync(server.LocalEndPoint).Within();
        return socket;
    }

    /// <summary>Everything the server sends until it closes.</summary>
    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[256];
        while (await socket.ReceiveAsync(buffer).Within() is int read and > 0)
        {
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    private static ParleyServerOptions LineServer(int maxConnections, int perAddress)
    {
        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.Framer = new LineFramer(1024);
        options.MaxConnections = maxConnections;
        options.MaxConnectionsPerAddress = perAddress;
        options.RefusalMessage = reason => Encoding.UTF8.GetBytes($"refused: {reason}");
        return options;
    }

    [Fact]
    public async Task An_address_at_its_limit_is_refused_with_the_message_while_other_addresses_get_in()
    {
        await using var server = new ParleyServer(LineServer(maxConnections: 100, perAddress: 3));
        server.Start();
        var held = new List<Socket>();
        for (int i = 0; i < 3; i++)
        {
            held.Add(await ConnectFromAsync(server, "127.0.0.1"));
        }

        await TestSupport.Until(() => server.ConnectionCount == 3, "three connections");
        using (Socket fourth = await ConnectFromAsync(server, "127.0.0.1"))
        {
            Assert.Equal("refused: AddressLimit\n", await ReadToEndAsync(fourth));
        }

        using Socket other = await ConnectFromAsync(server, "127.0.0.2");
        await TestSupport.Until(() => server.ConnectionCount == 4, "the other address's connection");

        // A slot given back is a slot the address can use again.
        held[0].Dispose();
        await TestSupport.Until(() => server.ConnectionCount == 3, "the closed one gone");
        using Socket again = await ConnectFromAsync(server, "127.0.0.1");
        await TestSupport.Until(() => server.ConnectionCount == 4, "the address's new connection");
        held.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task A_full_server_tells_a_newcomer_before_closing_it()
    {
        await using var server = new ParleyServer(LineServer(maxConnections: 2, perAddress: 100));
        server.Start();
        using Socket first = await ConnectFromAsync(server, "127.0.0.1");
        using Socket second = await ConnectFromAsync(server, "127.0.0.3");
        await TestSupport.Until(() => server.ConnectionCount == 2, "two connections");
        using Socket third = await ConnectFromAsync(server, "127.0.0.4");
        Assert.Equal("refused: ConnectionLimit\n", await ReadToEndAsync(third));
    }

    [Fact]
    public void IPv6_addresses_count_by_their_64_bit_prefix_and_mapped_IPv4_as_IPv4()
    {
        UInt128? a = Internal.AddressCounter.KeyOf(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::1"), 1));
        UInt128? b = Internal.AddressCounter.KeyOf(new IPEndPoint(IPAddress.Parse("2001:db8:1:2:ffff::9"), 2));
        UInt128? c = Internal.AddressCounter.KeyOf(new IPEndPoint(IPAddress.Parse("2001:db8:1:3::1"), 1));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(
            Internal.AddressCounter.KeyOf(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 1)),
            Internal.AddressCounter.KeyOf(new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 1)));
        Assert.Null(Internal.AddressCounter.KeyOf(new UnixDomainSocketEndPoint("/tmp/x")));

        var counter = new Internal.AddressCounter();
        Assert.True(counter.TryAcquire(a, 2));
        Assert.True(counter.TryAcquire(b, 2));
        Assert.False(counter.TryAcquire(a, 2));
        Assert.True(counter.TryAcquire(c, 2));
        counter.Release(a);
        Assert.Equal(1, counter.CountOf(b));
        counter.Release(b);
        Assert.Equal(0, counter.CountOf(a));
    }
}

public class RefusalDeliveryTests
{
    [Fact]
    public async Task A_refused_peer_that_already_sent_its_first_line_still_reads_the_refusal()
    {
        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.Framer = new LineFramer(1024);
        options.MaxConnections = 1;
        options.RefusalMessage = reason => Encoding.UTF8.GetBytes($"refused: {reason}");
        await using var server = new ParleyServer(options);
        server.Start();
        using Socket first = await TestSupport.ConnectRawAsync(server);
        await TestSupport.Until(() => server.ConnectionCount == 1, "the first connection");

        for (int i = 0; i < 20; i++)
        {
            // As `printf '...' | nc` would: the command is on its way before the server has looked.
            using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await second.ConnectAsync(server.LocalEndPoint).Within();
            await second.SendAsync(Encoding.UTF8.GetBytes("{\"_ct\":\"join_room\",\"r\":\"general\"}\n"));
            var text = new StringBuilder();
            byte[] buffer = new byte[256];
            while (await second.ReceiveAsync(buffer).Within() is int read and > 0)
            {
                text.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }

            Assert.Equal("refused: ConnectionLimit\n", text.ToString());
        }
    }
}
