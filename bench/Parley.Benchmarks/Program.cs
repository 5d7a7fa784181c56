using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Parley.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Parley.Benchmarks.FramingBenchmarks).Assembly).Run(args);
