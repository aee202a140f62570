namespace Receptor.Host;

/// <summary>The theoretical receptive field of a node's output units, in input pixels.</summary>
/// <param name="IsGlobal">Whether every output unit sees the whole input (after global pooling or a dense layer).</param>
/// <param name="Height">Field size along the height axis.</param>
/// <param name="Width">Field size along the width axis.</param>
/// <param name="StrideHeight">Input pixels between neighbouring output units, vertically.</param>
/// <param name="StrideWidth">Input pixels between neighbouring output units, horizontally.</param>
/// <param name="PaddingHeight">Effective top padding: output unit 0's field starts at minus this.</param>
/// <param name="PaddingWidth">Effective left padding.</param>
public sealed record ReceptiveField(
    bool IsGlobal, double Height, double Width, double StrideHeight, double StrideWidth, double PaddingHeight, double PaddingWidth);

/// <summary>What the analysis knows about one node of the network.</summary>
/// <param name="Path">The layer path, such as <c>layer2/down/residual/body/conv1</c>.</param>
/// <param name="Operation">The layer as written, or the merge's name.</param>
/// <param name="OutputShape">C, H, W, or the number of features of a flat output.</param>
/// <param name="Parameters">Learnable parameters.</param>
/// <param name="MultiplyAccumulates">Fused multiply-adds of convolutions and dense layers.</param>
/// <param name="OtherFlops">Other floating-point operations.</param>
/// <param name="MemoryBytes">Bytes of the float32 output for one image.</param>
/// <param name="ReceptiveField">The theoretical receptive field of its output units.</param>
public sealed record LayerReport(
    string Path, string Operation, IReadOnlyList<int> OutputShape, long Parameters, long MultiplyAccumulates,
    long OtherFlops, long MemoryBytes, ReceptiveField ReceptiveField);

/// <summary>The static analysis of a whole network.</summary>
/// <param name="Name">The network's name.</param>
/// <param name="InputShape">C, H, W of the input, or its number of features.</param>
/// <param name="OutputShape">The shape of the output.</param>
/// <param name="Parameters">Total learnable parameters.</param>
/// <param name="MultiplyAccumulates">Total multiply-accumulates.</param>
/// <param name="OtherFlops">Total other floating-point operations.</param>
/// <param name="MemoryBytes">Total activation memory for one image.</param>
/// <param name="ReceptiveField">The receptive field of the output units.</param>
/// <param name="Layers">Every node, in evaluation order.</param>
/// <param name="Warnings">Multi-path alignment problems, each prefixed by the merge's path.</param>
public sealed record ArchitectureReport(
    string Name, IReadOnlyList<int> InputShape, IReadOnlyList<int> OutputShape, long Parameters,
    long MultiplyAccumulates, long OtherFlops, long MemoryBytes, ReceptiveField ReceptiveField,
    IReadOnlyList<LayerReport> Layers, IReadOnlyList<string> Warnings);
