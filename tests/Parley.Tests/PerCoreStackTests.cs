using Parley.Internal;

namespace Parley.Tests;

public sealed class PerCoreStackTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(1000)]
    public void It_keeps_exactly_its_capacity_over_all_cores_and_gives_everything_back(int capacity)
    {
        var stack = new PerCoreStack<object>(capacity);
        var kept = new HashSet<object>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < capacity + 5; i++)
        {
            var item = new object();
            if (stack.TryPush(item))
            {
                kept.Add(item);
            }
        }

        Assert.Equal(capacity, kept.Count);
        Assert.Equal(capacity, stack.Count);
        for (int i = 0; i < capacity; i++)
        {
            object? item = stack.TryPop();
            Assert.NotNull(item);
            Assert.True(kept.Remove(item), "each kept object comes back once");
        }

        Assert.Null(stack.TryPop());
        Assert.Equal(0, stack.Count);
    }

    [Fact]
    public async Task What_one_thread_returns_another_thread_can_rent_whatever_core_either_runs_on()
    {
        var stack = new PerCoreStack<object>(64);
        var items = Enumerable.Range(0, 64).Select(_ => new object()).ToArray();
        await Task.Run(() =>
        {
            foreach (object item in items)
            {
                Assert.True(stack.TryPush(item));
            }
        });

        var rented = new List<object>();
        await Task.Run(() =>
        {
            while (stack.TryPop() is { } item)
            {
                rented.Add(item);
            }
        });

        Assert.Equal(items.Length, rented.Distinct(ReferenceEqualityComparer.Instance).Count());
    }

    [Fact]
    public void Trim_keeps_the_number_asked_for_and_reports_the_rest()
    {
        var stack = new PerCoreStack<object>(40);
        for (int i = 0; i < 40; i++)
        {
            Assert.True(stack.TryPush(new object()));
        }

        Assert.Equal(30, stack.Trim(10));
        Assert.Equal(10, stack.Count);
        Assert.Equal(10, stack.Trim(0));
        Assert.Null(stack.TryPop());
    }

    [Fact]
    public async Task Under_concurrent_rent_and_return_no_object_is_handed_to_two_renters_at_once()
    {
        var stack = new PerCoreStack<Token>(32);
        for (int i = 0; i < 32; i++)
        {
            stack.TryPush(new Token());
        }

        int doubleRents = 0;
        Task[] workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 50_000; i++)
            {
                Token token = stack.TryPop() ?? new Token();
                if (Interlocked.Exchange(ref token.InUse, 1) != 0)
                {
                    Interlocked.Increment(ref doubleRents);
                }

                Volatile.Write(ref token.InUse, 0);
                stack.TryPush(token);
            }
        })).ToArray();
        await Task.WhenAll(workers).WaitAsync(TestSupport.Timeout);

        Assert.Equal(0, doubleRents);
        Assert.InRange(stack.Count, 1, 32);
    }

    private sealed class Token
    {
        public int InUse;
    }
}
