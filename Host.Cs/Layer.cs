using Microsoft.FSharp.Collections;
using Receptor.Dsl;
using C = Receptor.Dsl.Combinators;

namespace Receptor.Host;

/// <summary>A network built in C#: layers are values, <see cref="Then"/> composes them, and the merges combine them,
/// as the text syntax and the F# combinators (<c>Receptor.Dsl.Combinators</c>) do. <c>Program</c> prints the
/// text that <see cref="Architecture"/>, <see cref="Initialisation"/> and <see cref="SearchStudy"/> take.</summary>
/// <example><code>
/// var block = Layer.Residual(Layer.Conv(3, 16, padding: 1).Then(Layer.BatchNorm).Then(Layer.Relu)).Then(Layer.Relu);
/// var text = Layer.Conv(3, 16, padding: 1).Then(Layer.Repeat(3, block)).Then(Layer.GlobalAvgPool).Then(Layer.Flatten).Then(Layer.Dense(10))
///     .Program("small", 3, 32, 32);
/// </code></example>
public sealed class Layer
{
    private Layer(Node node) => Node = node;

    internal Node Node { get; }

    /// <summary>This layer, then <paramref name="next"/> on its output (<c>a &gt;&gt; b</c>).</summary>
    public Layer Then(Layer next) => new(C.op_MinusMinusGreater(Node, next.Node));

    /// <summary>This layer under a name, which becomes its path (<c>name: layer</c>).</summary>
    public Layer Named(string name) => new(C.named(name, Node));

    /// <summary>A k×k convolution to <paramref name="channels"/> channels.</summary>
    public static Layer Conv(int kernel, int channels, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
    {
        var node = C.conv(kernel, channels);
        if (stride != 1) node = C.stride(stride, node);
        if (padding != 0) node = C.padding(padding, node);
        if (dilation != 1) node = C.dilation(dilation, node);
        if (groups != 1) node = C.groups(groups, node);
        if (!bias) node = C.noBias(node);
        return new Layer(node);
    }

    /// <summary>A k×k depthwise convolution.</summary>
    public static Layer DepthwiseConv(int kernel, int stride = 1, int padding = 0)
    {
        var node = C.dwconv(kernel);
        if (stride != 1) node = C.stride(stride, node);
        if (padding != 0) node = C.padding(padding, node);
        return new Layer(node);
    }

    /// <summary>A fully connected layer to <paramref name="features"/> outputs.</summary>
    public static Layer Dense(int features) => new(C.dense(features));

    /// <summary>k×k max pooling (stride k unless given).</summary>
    public static Layer MaxPool(int kernel, int? stride = null) => new(stride is { } s ? C.stride(s, C.maxpool(kernel)) : C.maxpool(kernel));

    /// <summary>k×k average pooling (stride k unless given).</summary>
    public static Layer AvgPool(int kernel, int? stride = null) => new(stride is { } s ? C.stride(s, C.avgpool(kernel)) : C.avgpool(kernel));

    /// <summary>Dropout with probability <paramref name="p"/>.</summary>
    public static Layer Dropout(double p) => new(C.dropout(p));

    /// <summary>Any layer kind by its name and arguments as the text syntax writes them, such as <c>Layer.Of("prelu(0.25)")</c>.</summary>
    /// <exception cref="ReceptorException">The text is not one layer.</exception>
    public static Layer Of(string text)
    {
        var node = Failures.Unwrap(Parser.parseNode(text));
        return new Layer(node);
    }

    /// <summary>Global average pooling.</summary>
    public static Layer GlobalAvgPool { get; } = new(C.gavgpool);

    /// <summary>Flattens a map into features.</summary>
    public static Layer Flatten { get; } = new(C.flatten);

    /// <summary>Batch normalisation.</summary>
    public static Layer BatchNorm { get; } = new(C.bn);

    /// <summary>ReLU.</summary>
    public static Layer Relu { get; } = new(C.relu);

    /// <summary>SiLU (swish with β = 1).</summary>
    public static Layer Silu { get; } = new(C.silu);

    /// <summary>tanh.</summary>
    public static Layer Tanh { get; } = new(C.tanh);

    /// <summary>The logistic sigmoid.</summary>
    public static Layer Sigmoid { get; } = new(C.sigmoid);

    /// <summary>The identity.</summary>
    public static Layer Identity { get; } = new(C.identity);

    /// <summary><paramref name="body"/> added to its input, or to <paramref name="shortcut"/> of it.</summary>
    public static Layer Residual(Layer body, Layer? shortcut = null) =>
        new(shortcut is null ? C.residual(body.Node) : C.residualWith(shortcut.Node, body.Node));

    /// <summary>Branches on the same input, summed.</summary>
    public static Layer Add(params Layer[] branches) => new(C.add(List(branches)));

    /// <summary>Branches on the same input, concatenated along channels.</summary>
    public static Layer Concat(params Layer[] branches) => new(C.concat(List(branches)));

    /// <summary>Branches on the same input, multiplied (a gate).</summary>
    public static Layer Multiply(params Layer[] branches) => new(C.multiply(List(branches)));

    /// <summary><paramref name="body"/> <paramref name="count"/> times in sequence.</summary>
    public static Layer Repeat(int count, Layer body) => new(C.repeat(count, body.Node));

    /// <summary>The network's text: this layer as the body of a network named <paramref name="name"/> on C×H×W inputs.</summary>
    public string Program(string name, int channels, int height, int width) =>
        Printer.program(new Program(name, Shape.NewSpatial(channels, height, width), FSharpList<Block>.Empty, Node));

    /// <summary>The network's text on flat inputs of <paramref name="features"/> values.</summary>
    public string Program(string name, int features) =>
        Printer.program(new Program(name, Shape.NewFlat(features), FSharpList<Block>.Empty, Node));

    /// <summary>The layer as the text syntax writes it.</summary>
    public override string ToString() => Printer.node(Node);

    private static FSharpList<Node> List(Layer[] layers) => ListModule.OfSeq(layers.Select(l => l.Node));
}
