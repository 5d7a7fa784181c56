using System.CommandLine;
using System.CommandLine.Parsing;
using System.Numerics;

namespace Parley.Cli;

/// <summary>
/// Range rules for numeric options. A value outside its range is a parse error that states the
/// rule ("--max-connections: 0 is out of range: must be 1 to 1000000."), reported by
/// System.CommandLine with a non-zero exit, never an exception from inside a command. Every
/// numeric option of every command has one: zero and negatives are refused where they mean
/// nothing, and NaN and infinities always.
/// </summary>
internal static class OptionRules
{
    /// <summary>Accepts <paramref name="min"/> to <paramref name="max"/>, both included.</summary>
    public static Option<T> Range<T>(this Option<T> option, T min, T max, string unit)
        where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out T value))
            {
                Check(result, value, min, max, unit, exclusiveMin: false);
            }
        });
        return option;
    }

    /// <summary>Accepts <paramref name="min"/> to <paramref name="max"/>, both included, when a value is given.</summary>
    public static Option<T?> Range<T>(this Option<T?> option, T min, T max, string unit)
        where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out T? given) && given is T value)
            {
                Check(result, value, min, max, unit, exclusiveMin: false);
            }
        });
        return option;
    }

    /// <summary>Accepts more than 0 and at most <paramref name="max"/> (durations, intervals, rates).</summary>
    public static Option<double> Positive(this Option<double> option, double max, string unit)
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out double value))
            {
                Check(result, value, 0, max, unit, exclusiveMin: true);
            }
        });
        return option;
    }

    /// <summary>Accepts more than 0 and at most <paramref name="max"/> when a value is given.</summary>
    public static Option<double?> Positive(this Option<double?> option, double max, string unit)
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out double? given) && given is double value)
            {
                Check(result, value, 0, max, unit, exclusiveMin: true);
            }
        });
        return option;
    }

    /// <summary>Adds a rule of its own: <paramref name="problem"/> returns the error for a value, or null when it is fine.</summary>
    public static Option<T> Rule<T>(this Option<T> option, Func<T, string?> problem)
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out T value) && problem(value) is { } error)
            {
                result.AddError(error);
            }
        });
        return option;
    }

    /// <summary>For a command's own validator: <paramref name="option"/>'s value; false when its token did not
    /// convert (the parser reports that error itself).</summary>
    public static bool TryGetValue<T>(this CommandResult result, Option<T> option, out T value)
    {
        try
        {
            value = result.GetValue(option)!;
            return true;
        }
        catch (InvalidOperationException)
        {
            // As below: the conversion error is already on the parse result.
            value = default!;
            return false;
        }
    }

    /// <summary>The option's value; false when its token did not convert (the parser reports that error itself).</summary>
    private static bool TryGetValue<T>(OptionResult result, out T value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            // "Cannot parse argument 'abc' for option '--port'": System.CommandLine records that
            // parse error itself but offers no way to ask for the value without this exception.
            value = default!;
            return false;
        }
    }

    private static void Check<T>(OptionResult result, T value, T min, T max, string unit, bool exclusiveMin)
        where T : struct, INumber<T>
    {
        bool below = exclusiveMin ? value <= min : value < min;
        if (!T.IsFinite(value) || below || value > max)
        {
            string rule = exclusiveMin
                ? FormattableString.Invariant($"more than {min} and at most {max} {unit}")
                : FormattableString.Invariant($"{min} to {max} {unit}");
            result.AddError(FormattableString.Invariant($"{result.Option.Name}: {value} is out of range: must be {rule.TrimEnd()}."));
        }
    }
}
