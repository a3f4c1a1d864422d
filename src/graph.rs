//! Skeleton graphs: hop distances, ST-GCN's normalised adjacency and its spatial / distance / uniform partitions.
//!
//! Convention (as ST-GCN's `graph.py`): `a[k][j][i]` is the weight of source joint `j` into target joint `i`,
//! and aggregation is `out[i] = Σ_j x[j] · a[k][j][i]`. Columns of the summed partitions add up to 1.

use serde::{Deserialize, Serialize};

/// How the neighbourhood is split into K subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// K = 1: one normalised adjacency.
    Uniform,
    /// K = max_hop + 1: one subset per hop distance.
    Distance,
    /// K = 3 (ST-GCN): root (same distance to the centre), neighbours farther from the centre, neighbours nearer.
    Spatial,
}

/// All-pairs shortest path lengths in hops; `usize::MAX` where unreachable.
pub fn hop_distances(v: usize, edges: &[[usize; 2]]) -> Vec<Vec<usize>> {
    let adj = neighbours(v, edges);
    (0..v).map(|s| bfs(&adj, s)).collect()
}

/// Shortest path lengths in hops from `source` to every joint; `usize::MAX` where unreachable.
pub fn hops_from(v: usize, edges: &[[usize; 2]], source: usize) -> Vec<usize> {
    bfs(&neighbours(v, edges), source)
}

fn neighbours(v: usize, edges: &[[usize; 2]]) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); v];
    for &[a, b] in edges {
        if a < v && b < v {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    adj
}

fn bfs(adj: &[Vec<usize>], source: usize) -> Vec<usize> {
    let mut d = vec![usize::MAX; adj.len()];
    d[source] = 0;
    let mut queue = std::collections::VecDeque::from([source]);
    while let Some(u) = queue.pop_front() {
        for &w in &adj[u] {
            if d[w] == usize::MAX {
                d[w] = d[u] + 1;
                queue.push_back(w);
            }
        }
    }
    d
}

/// The K adjacency matrices (each V×V, row = source, column = target) of a partition strategy.
pub fn partitioned_adjacency(
    v: usize,
    edges: &[[usize; 2]],
    center: usize,
    partition: Partition,
    max_hop: usize,
) -> Vec<Vec<Vec<f32>>> {
    let hop = hop_distances(v, edges);
    // ST-GCN's normalize_digraph: divide column i by the number of joints within max_hop of i.
    let within = |j: usize, i: usize| hop[j][i] <= max_hop;
    let deg: Vec<f32> = (0..v)
        .map(|i| (0..v).filter(|&j| within(j, i)).count() as f32)
        .collect();
    let norm = |j: usize, i: usize| if within(j, i) { 1.0 / deg[i] } else { 0.0 };
    let zeros = || vec![vec![0f32; v]; v];
    match partition {
        Partition::Uniform => {
            let mut a = zeros();
            for (j, row) in a.iter_mut().enumerate() {
                for (i, x) in row.iter_mut().enumerate() {
                    *x = norm(j, i);
                }
            }
            vec![a]
        }
        Partition::Distance => (0..=max_hop)
            .map(|d| {
                let mut a = zeros();
                for j in 0..v {
                    for i in 0..v {
                        if hop[j][i] == d {
                            a[j][i] = norm(j, i);
                        }
                    }
                }
                a
            })
            .collect(),
        Partition::Spatial => {
            let (mut root, mut far, mut near) = (zeros(), zeros(), zeros());
            for j in 0..v {
                for i in 0..v {
                    if !within(j, i) {
                        continue;
                    }
                    let w = norm(j, i);
                    // As ST-GCN: equal distance to the centre (the joint itself) is the root subset.
                    if hop[j][center] == hop[i][center] {
                        root[j][i] = w;
                    } else if hop[j][center] > hop[i][center] {
                        far[j][i] = w;
                    } else {
                        near[j][i] = w;
                    }
                }
            }
            vec![root, far, near]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain 0 - 1 - 2 with the centre at 1.
    const CHAIN: [[usize; 2]; 2] = [[0, 1], [1, 2]];

    #[test]
    fn hop_distances_of_a_chain_and_an_unreachable_joint() {
        let d = hop_distances(4, &CHAIN);
        assert_eq!(d[0][..3], [0, 1, 2]);
        assert_eq!(d[2][0], 2);
        assert_eq!(d[3][0], usize::MAX);
    }

    #[test]
    fn partitions_split_the_normalised_adjacency_and_columns_sum_to_one() {
        for (partition, k) in [
            (Partition::Uniform, 1),
            (Partition::Distance, 2),
            (Partition::Spatial, 3),
        ] {
            let a = partitioned_adjacency(3, &CHAIN, 1, partition, 1);
            assert_eq!(a.len(), k, "{partition:?}");
            for i in 0..3 {
                let col: f32 = a
                    .iter()
                    .map(|ak| (0..3).map(|j| ak[j][i]).sum::<f32>())
                    .sum();
                assert!((col - 1.0).abs() < 1e-6, "{partition:?} column {i}: {col}");
            }
        }
        // Spatial, centre 1: joint 1 gathers from its farther neighbours 0 and 2 (1/3 each: itself and two
        // neighbours); joint 0 gathers from the nearer joint 1 (1/2: itself and one neighbour).
        let a = partitioned_adjacency(3, &CHAIN, 1, Partition::Spatial, 1);
        assert_eq!(
            (a[0][1][1], a[1][0][1], a[1][2][1]),
            (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0)
        );
        assert_eq!((a[0][0][0], a[2][1][0], a[1][1][0]), (0.5, 0.5, 0.0));
    }
}
