"""Resolve the rotational ambiguity of a non-negative factorisation by pure pixels.

``X ~= W H`` and ``X ~= (W M^-1) (M H)`` fit equally well for any invertible ``M`` that keeps both factors
non-negative. When spectra share a component (an EDS bremsstrahlung, a line present in two phases) such ``M``
exist near the identity, and an NMF or MCR-ALS solver drifts along that family towards mixed spectra while fitting
the noise (on the demo's EDS sample KL-NMF ended 11-13 degrees from the true SiO2 spectrum at a *lower* loss than
the truth). The family has one member whose loadings are pure (one non-zero) at the pure pixels of every
component; it is also the member with the smallest spectral simplex (the minimum-volume solution), and it is the
physical one when each phase is present pure somewhere in the scan.

:func:`pure_pixel_rotation` picks that member given, for each component, a group of pixels believed pure (found
in the PCA subspace by :func:`.vca.vertex_neighbourhoods`): row ``c`` of ``M`` is the summed loadings of group
``c``, so ``W M^-1`` maps the group's pixels onto the unit vector ``e_c`` and ``M H`` holds the factorisation's
own model of each group's summed spectrum. Small negative loadings (noise around the simplex edges) are clipped
to zero; the caller refits the loadings with the spectra fixed.

Without pure pixels (every pixel a mixture, e.g. smoothly varying phases) the groups are only the most extreme
mixtures, and that rotation mixes the spectra (measured, issue 17: 23-33 degrees where the solver's own
factorisation is within 1-2). :func:`rotation_evidence` therefore decides from the data whether the groups are
vertices: the rotation is applied only when (nearly) every pixel lies inside the groups' simplex; the callers
record the decision, the numbers and the reason in the result's ``info`` (``pure_pixel_rotation``,
``pure_pixel_evidence``, ``pure_pixel_reason``).

The family has a second end: the member whose *spectra* are as far apart as non-negativity allows, zero where
another component is alone (pure channels). That is the physical one for EDS spectra without pure pixels: each
phase's own characteristic lines sit over a continuum that is low beside them, so at a line of its own a phase is
nearly alone. :func:`pure_channel_rotation` is :func:`pure_pixel_rotation` of the transposed factorisation
(channels play the pixels) at each component's most extreme channels, with the same evidence test. Measured on
smoothly mixed EDS scenes where the pure-pixel evidence refuses (issue 17, 96 x 96 x 1024): 15.6 -> 1.1, 14.7 ->
1.0, 4.2 -> 1.1, 4.9 -> 3.0 degrees from the truth. It is wrong where a phase has no line of its own (beside SiO2,
Si's only line is also SiO2's): the rotation strips that line from the other phase's spectrum. The evidence sees
that where the stripped spectrum then dips below zero elsewhere (3-53 % of the channels outside on ground-truth
scenes with such a phase, rank 3-4; at most 0.8 % where the rotation was right), but not where nothing else is
shared, nor at rank 2 (a line segment has no outside): there it is a prior, like pure pixels, and the
``pure_pixels=False`` result is the solver's own. The callers try it only on EDS data and apply it only below
:data:`MAX_OUTSIDE_CHANNELS` (``info``: ``pure_channel_rotation``, ``pure_channel_evidence``,
``pure_channel_reason``). A component's channels are where its share is largest; where the solver's own spectra
are pure there already, the share may be the others' near-zero faint continuum (few counts), and the channels are
chosen again from the spectra raised to their continuum level (:func:`continuum_floor`). Where the lines stand on a
strong continuum (a bulk sample's: the continuum a sizeable share of the model at the groups' channels,
:data:`MIN_CONTINUUM_SHARE`), no phase is alone even at its own line, and the member taken is the one whose spectra
have no *line* at the others' groups, each read above the continuum at its flank (:func:`excess_rotation`).

Where both ends pass their evidence the data alone cannot say which is physical: a region of one constant
mixture and a phase of its own are the same data. :func:`settle_ends` weighs them by the shape of the pure-pixel
groups' regions (:mod:`.regions`): a phase fills regions of constant composition (the demo's SiO2 layer, the
substrate under particles), whereas the centre of a particle seen through its substrate, or the core of a smooth
blob, is reached at a few points only, and there the spectra's end is taken (issue 17: the Ag spectrum of Ag
particles on Al). Each component may take its own end (:func:`mixed_end`): a substrate that holds the particles'
lines keeps its pure pixels, also where the particles' groups refuse the pixel end as a whole
(:func:`substrate_of_refused`).

Before the ends are weighed, and on EELS data too, the pixel end is judged on the map where the pixels' positions
are known (:func:`channel_end`): it is refused where many pixels lie beyond a group's vertex (:data:`MAX_BEYOND`),
and where no group fills a region of constant composition (the flattest component's plateau under
:data:`MIN_PLATEAU`) while some pixels lie beyond a vertex. A map mixed everywhere has no such region, and its
groups are its most extreme mixtures.

A line scan is judged along its line (:func:`line_end`, :func:`.regions.line_plateaus`): a component whose share
reaches its vertex only at a smooth maximum (an interphase that never fills a layer of its own) refuses the pixel
end, and the spectra's end is taken where it passes, else the components that fill a plateau keep their pure
pixels and the others take the solver's own spectra. Where the single pixels refused the pixel end but every
component of that member fills a plateau along the line, the groups are at fault (:func:`line_groups_at_fault`):
the solver's own is kept, and :mod:`.map_groups` finds the groups again along the line.

Where the groups are refused, the groups rather than the data may be at fault: at low counts, phases whose spectra
differ little fall into one group pixel by pixel. :mod:`.map_groups` then finds groups once more on the PCA
scores smoothed on the map, and fits again with them where the map looks like regions of pure phases (half of the
pixels or more at a smoothed group's vertex, no group smaller than the smoothing) and they pass the same evidence
(``info["pure_pixel_groups"]`` says which groups were used and why).
"""

from __future__ import annotations

import numpy as np

from .metrics import spectral_angles
from .regions import DOMAIN_LEVEL, MAX_LINE_NOISE, MIN_LINE_PLATEAU, MIN_PIXELS, line_plateaus, region_shapes

MAX_CONDITION = 1e8  # a rotation this ill-conditioned means two groups sit on the same vertex: leave W, H alone
EVIDENCE_PIXELS = 4096  # pixels sampled (evenly spaced) for the evidence
EVIDENCE_BLOCK = 256  # pixels per block of the evidence's Fisher information
# The Poisson information of a channel is 1 / (its model count); a solver's model is near zero where its spectra
# have exact zeros (KL-NMF's multiplicative updates end 19-35 of 1024 channels per component at 1e-37 or below on
# EELS grains) and a pixel's loadings are zero, and there the information explodes although the true count is not
# near zero: at truly pure pixels (EELS grains, 200 counts/pixel, the true groups) the absent components' z-scores
# spread 2.1-4.4 standard errors, not 1, and 15 % of the pure pixels read as outside. The model is therefore trusted
# down to this share of the sampled pixels' mean model at the channel (scaled to the pixel's total) only: spread
# 1.1-1.5 there (0.01: 1.5-1.9; 0.3: 1.1-1.3), 0.9-1.0 on pure EELS layers (3.6-39 without). Measured, NMF: pure EELS
# layers at 200 counts/pixel now pass (24.8 -> 2.2 degrees), three pure cubes at 20 counts/pixel too (7.4 -> 7.1,
# 20.0 -> 10.8, 41.6 -> 19.4), 38 other pure-pixel scenes unchanged; one of the 36 mixtures of test_no_pure_pixels's
# grid then passes the evidence and the map and is rotated wrongly (EELS gradient, rank 4, 200 counts/pixel: 10.9 %
# outside before, 4.1 % now; 25.5 degrees against its own 17.5), none of MCR's 36
MODEL_FLOOR = 0.1
OUTSIDE_SHARE = 0.10  # a pixel is outside the groups' simplex when a rotated loading is below -10 % of its total
OUTSIDE_SIGMAS = 3.0  # ... and below -3 standard errors
MAX_OUTSIDE = 0.10  # the rotation is applied when at most this fraction of the pixels lies outside
# ... and with 4 components or more (MANY_COMPONENTS), at most MAX_OUTSIDE_MANY where the map shows every group filling
# a region of constant composition that nothing lies beyond (channel_end): the candidate groups of pure phases
# spread further as k grows. Every pixel pure (a reviewer's Voronoi grains of Mo, MoS2, TiO2, BaSO4, 64 x 64 x 1024
# EDS, 200 counts/pixel, seeds 0-5) read 10.8-14.1 % outside on NMF's factorisation on four seeds (VCA's model of
# the same data 6.4-8.3 %), five pure phases 11-12 %; refused, NMF fell to the spectra's end, Mo 64-70 degrees from
# the truth on three (no line of its own beside MoS2). Their maps: every group's plateau 0.63-0.84, 0-2.1 % beyond
MAX_OUTSIDE_MANY = 0.15
MANY_COMPONENTS = 4
# ... and at most MAX_DEEP of them lie outside by more than DEEP_SIGMAS standard errors (and OUTSIDE_SHARE). A
# group's centre a little inside its vertex puts the purest pixels a few standard errors outside: at most 4.5 where
# the rotation was applied on pure-pixel cubes (EDS and EELS, ranks 2-4, 20-2000 counts/pixel), alloys and the demo's
# EDS sample at three seeds, none beyond 6 on them nor on 96 x 96 cubes at 5000-20000 counts/pixel. Pixels a wrong
# vertex leaves out lie as far as their counts allow: a segregant on one-pixel grain boundaries (never pure), whose
# boundary pixels in one grain phase were taken for its vertex, put those in the other 9-30 standard errors outside
# at 500-5000 counts/pixel (2-6 % of the pixels, within MAX_OUTSIDE), the segregant 23-57 degrees from the truth
# (at 200 counts/pixel 5-6.5, not caught)
DEEP_SIGMAS = 6.0
MAX_DEEP = 0.01
# A solver whose result will be rotated stops once the rotated spectra move less than this between checks, the
# loss falling by less than SETTLED_LOSS (relative) over that check: a stall of the updates is not a settled fit
SETTLED_DEGREES = 0.01
SETTLED_LOSS = 1e-5
CHANNEL_GROUP_SIZE = 3  # channels per component in the pure-channel groups (an EDS line is 3-6 channels wide)
# excess_rotation: the continuum under a line is read this many line widths (FWHM) beside each group channel (3
# channels, on the side where the model is lower), where a Gaussian line has fallen to 0.2 % of its height; the
# width is looked for within FLANK_SEARCH channels
FLANK_WIDTHS = 1.5
FLANK_SEARCH = 40
# ... where the continuum's share of the model at the groups' channels (continuum_share, median) is at least this.
# Measured on the true spectra at their own groups: 0.01-0.07 on the EDS mixtures of groundtruth.mixed_scene (where the
# pure-channel assumption holds to 1-4 % of a line's counts), 0.28-0.61 on lines_over_continuum_scene (real elements'
# lines over a bulk sample's continuum, where it fails by 31-204 % and the flanks' reading by 0.1-10 %). On the
# solvers' models (NMF and MCR): 0.007-0.165 on 24 fits of mixed_scene's EDS grid (at 0.165 the flanks' member was
# worse, 0.98 -> 3.22 degrees; one more read 0.285 where no flank member exists), 0.28-0.56 on 12 fits of smooth
# lines_over_continuum_scene mixtures, 0.34-0.40 on particles_on_substrate (Si on SiO2, Fe on its oxide). Set at
# 0.25 first, the top of that gap; then 9 fits read 0.213-0.249 under it (lines_over_continuum_scene smooth mixtures,
# seeds 3-19, and a scene written apart from it), where the plain member was worse than the solver's own on 7 and
# reading above the continuum better than both on 7 (4.6-15.6 -> 1.9-4.0 degrees; on the other 2 the excesses define
# no rotation), and the 36 EDS cells of test_no_pure_pixels' slow grid did not change: the middle of the gap
MIN_CONTINUUM_SHARE = 0.20
# the running mean a spectrum is raised to where the solver's own is pure at its groups already (continuum_floor):
# over this share of the channels (a 0-20 keV spectrum: 0.67 keV, five to ten line widths)
FLOOR_WINDOW = 1 / 30
# Channels are not grouped by a neighbourhood whose centre lies inside the vertex (pixels are), so beyond the groups
# there is only noise: a right pure-channel rotation left 0-0.8 % of the channels outside, wrong ones 1.1-53 %
MAX_OUTSIDE_CHANNELS = 0.01
# pixels (evenly spaced) over which a channel's Fisher information is summed (a block of EVIDENCE_BLOCK channels
# then holds a 32 MiB model)
CHANNEL_EVIDENCE_PIXELS = 16384
# Where both ends pass (settle_ends): the ends dispute a component whose spectra differ by at least this, and the
# pixel end is kept when each disputed component's group fills at least this plateau fraction (.regions). Where no
# group fills it, the pixel end is refused everywhere (channel_end): the flattest component read 0.64-0.82 on 62
# fits with pure pixels (alloys, pure-pixel EDS and EELS cubes at 20-2000 counts/pixel, the demo's sample); 0.23-0.40
# on 26 of 55 fits of smooth blob and gradient mixtures whose groups passed the single pixels' evidence (the others
# read 0.44-0.99: the plateau ambiguity of settle_ends)
DISPUTED_DEGREES = 10.0
MIN_PLATEAU = 0.44
# ... unless an undisputed component goes on under the disputed ones: its loading at the spectra's end, where a
# disputed component holds at least half of a pixel's share at the pixel end, at least this share of its own level
# (where it holds 90 %). That is a support film seen through particles (TEM: the film is in every pixel), whose
# pure-pixel groups are particle-and-film mixtures however flat a dense particle's share is at its centre (plateau
# 0.55, 16-18 degrees from the truth at the pixel end). Measured: 0.99-1.02 on particles on a SiN film (a reviewer's
# maps and groundtruth.particles_on_film, NMF and MCR; the spectra's end 0.5-1.0 degrees from the truth); 0.01-0.49
# where the pixel end was right and kept by its plateau (two-phase alloys, the demo's sample, whole and scanned at a
# fifth). Where the two ends differ by under DISPUTED_DEGREES, see MOVED_DEGREES
SUBSTRATE_LEVEL = 0.8
# ... and it goes on under each other component apart (.levels_under_each) at least at this share of its own level: a
# film lies under every phase. A compound beside its metal (Voronoi grains of Mo, MoS2 and TiO2, every pixel pure, 200
# counts/pixel; issue 17) seems to go on under the metal's grains at 0.78-0.86 -- the spectra's end strips the metal
# of the lines they share -- but the third phase replaces it (0.02 under TiO2): over SUBSTRATE_LEVEL alone that end was
# taken, Mo 54-62 degrees from the truth. Films read 0.60-1.0 under each kind of particle (C and SiN, film/particle
# counts 20/80 to 200/800, NMF and MCR), where raising SUBSTRATE_LEVEL to 0.9 instead lost C films at 0.83-0.88
FILM_UNDER_EACH = 0.5
# ... and at most this share under each: a film has one thickness, and under a particle the beam loses some of it.
# Where the spectra's end strips a line the particles share with the film (Ti K in BaTiO3 particles on a TiO2 film;
# a reviewer's 48 x 48 x 2048 maps at 200 counts/pixel, issue 17), the film's component takes the particles' counts of
# that line and grows with their thickness under them: 2.8-3.8 of its own level (2.6-4.3 on the tests' TiO2 film
# scenes), the stripped particle 14.7-26.2 degrees from the truth (the solver's own 2.0-22.5). Films read 0.60-1.0
# under each kind of particle (C and SiN, as above) and 1.14-1.34 under the other particles of those maps (FeO, lines
# of its own, right at the spectra's end)
FILM_OVER_EACH = 2.0
# Ends within DISPUTED_DEGREES agree where each phase has a line of its own and pure pixels, but a film of its own
# lines (C with Cu from the grid) moves the particles' pure-pixel spectra by 5-8 degrees only: components whose ends
# differ by at least this are weighed as disputed where the film goes on under them (0.93-0.99 on a reviewer's 16
# fits of C-film maps under Au, Fe2O3 and Pt particles: 5.7-7.6 -> 0.3-0.8 degrees)
MOVED_DEGREES = 3.0
# ... unless at most this share of the pixels lie beyond any group's vertex by more than their noise: pure regions
# too narrow to hold a plateau after the smoothing (layers 3 pixels wide: plateau 0.33, beyond 0.0), where a mixed
# map's extreme mixtures spread beyond their groups (3.2-32 % on those 26 fits)
NARROW_BEYOND = 0.02
# ... and where the shares vary from pixel to pixel with no spatial structure: every component's share correlates
# with its neighbours' (.regions.neighbour_correlation) under this. The smoothing of .regions averages such a map
# into a plateau (Dirichlet(1) mixtures drawn pixel by pixel read plateaus 0.43-0.85, nothing beyond)
MIN_STRUCTURE = 0.05
# ... where, summed over the components, fewer than this share of the single pixels reach 90 % of a vertex
# (.regions.RegionShape.at_vertex): fractions drawn pixel by pixel with few pure pixels. Dirichlet(0.3) fractions
# hold pure pixels (noise-free, 4 % of the pixels above 0.9 per component) and the pixel end is right there (MCR
# 1.2 degrees at 2000 counts/pixel, refused 1.6): read 19-28 %; Dirichlet(1) and (3), where it was wrong, 0.1-8 %
# (at 500-2000 counts/pixel). Pure-region maps whose noise hides their structure from the neighbours (EELS discs
# of unequal areas at 50-200 counts/pixel, correlation 0.02-0.16) read 73-155 %.
# 2026-12-07 (issue 17): at 200-500 counts/pixel Poisson noise alone puts Dirichlet(1) pixels at a vertex: 12.5 and
# 22.5 % at 220 counts/pixel (two draws), where the pixel end passed and went 8-16 degrees from the truth (MCR 15.8 /
# NMF 15.7 at the worst, their own 2.2 / 1.8). Raised to the middle of the gap between the mixtures (at most 29 %,
# Dirichlet(0.3) at 200 counts/pixel) and the pure-region maps without neighbour correlation (EELS discs as above;
# EELS grains at 20 counts/pixel, correlation 0.02: 104 %). Dirichlet(0.3), whose pure pixels are single ones
# (19.7-28.9 %), is now refused too and keeps the solver's own: median 3.0-3.3 degrees from the truth against
# 3.9-4.2 at 200 counts/pixel, 2.3-2.5 against 2.5-2.7 at 500, but 1.5-1.9 against 1.1-1.2 at 2000 (MCR, NMF)
MAX_AT_VERTICES = 0.45
# a pure-pixel vertex that more than this share of the pixels lie beyond, by more than their noise, bounds no region
# of the data (channel_end, .regions): measured at most 10 % where the pure pixels are right (60 EDS and EELS scenes
# with pure pixels, the demo's sample at ten seeds), 14-37 % on most mixtures where the rotation was wrong and
# 79-98 % for groups of a few noisy pixels at 5 counts/pixel
MAX_BEYOND = 0.15
# A rotated factorisation whose refitted loadings leave more than this multiple of the solver's own misfit is no
# member of the family of equally good factorisations (the rotation's premise), whatever its evidence said: MCR
# (its loss the weighted squared residual), 96 x 96 x 1024 and 64 x 64 x 1024 ground-truth scenes, 2026-12-02:
# 1.000-1.007 on 15 pure-pixel cubes where the rotation was right and 1.63 on one more (21.9 -> 7.9 degrees from the
# truth); 2246, 2451 and 1.4e6 on three smooth mixtures whose groups passed the single pixels' evidence and were
# rotated to 28.0 / 30.3 / 25.5 degrees against the solver's own 16.1 / 25.6 / 15.1 (an ill-conditioned group
# rotation, its spectra then clipped at zero). Four more mixtures read 3.6-684 with both ends poor (10.4-17.7 at the
# rotation, 13.6-21.0 own); 10 keeps the first of them and refuses the three others. Two smaller such mixtures (64 x
# 64 x 512) read 156 and 400 and had been rotated nearer the truth than the solver's own (22.4 / 18.8 against 35.2 /
# 22.7): on a mixture without pure pixels neither end is the physical member and which lies nearer is chance; the
# default then keeps the solver's own, never worse than it (issue 17).
# 2026-12-03, a sweep of 109 scenes (84 with pure pixels: EDS / EELS cubes ranks 2-6, alloys, grains, 20-2000
# counts/pixel, 48^2-96^2; 21 mixtures without; every rotation's ratio read with the limit lifted): right pixel-end
# rotations read 1.0000-3.05 (median 1.002) except 8 at 10.35-1851 (one component far off, the others better than
# the solver's own), refused at 10 and at 4 alike; the one wrong rotation above 1.8 read 6.78 (mcr-eds-gradient-4-200
# of test_no_pure_pixels, 36.6 degrees against its own 14.2). 4 refuses it; nothing right lay between 3.05 and 10.35.
# Wrong rotations that fit as well as the solver's own (1.003-1.7 on three mixtures) are members of the family of
# equally good fits: no loss ratio can tell them
MAX_LOSS_RATIO = 4.0
# ... and a pure-pixel member the single pixels' evidence and the map let through at most this multiple, its
# concentrations refitted exactly (mcr._pixel_end_misfit; 2026-12-07, issue 17, 64 x 64 ground-truth scenes, the
# exact non-negative refit's squared residual over the solver's own, clipped, one): 0.990-1.0081 on 35 MCR fits where
# the pixel end was right (pure-pixel EDS and EELS cubes, layers, EELS grains, alloys, EELS discs of unequal areas,
# Voronoi grains of 3-5 compounds; 20-2000 counts/pixel; the clipped refit read up to 3.97 there; the highest, 1.0057-
# 1.0081, at 20-200 counts/pixel), and 1.0165 where it was wrong on a four-phase EDS gradient at 200 counts/pixel
# (32-43 degrees from the truth, its own 10-20): the middle of that gap. Wrong members that fit as well stay: a
# Dirichlet(1) map at 20 counts/pixel read 1.0106 (47-50 degrees on three components, its own 5.5-8.9), the four-phase
# gradient at 20 counts/pixel 1.0065, Dirichlet maps at 220 counts/pixel 1.0035-1.0061 (MAX_AT_VERTICES refuses those)
MAX_PIXEL_END_RATIO = 1.012
# ... and NMF's: the loss of the pure-pixel member, its loadings refitted (20 W-only updates), over the solver's own
# (nmf.nmf; MCR's misfit checks above had no NMF counterpart). Measured 2026-12-07 (issue 17), KL: 1.0012-1.0079 on 11
# fits whose pixel end was taken and right (Voronoi grains of 3-5 compounds at 200 and 2000 counts/pixel, Mo / MoS2 /
# PbS grains, the three real Velox EELS maps with groups of 1-21 pixels); a spectra's end 0.9993-1.0006 (8 blob and
# gradient mixtures, a core-shell scene), a mixed end 1.0107 (Ti / Ba / Fe gradient; neither is checked); 1.534 on
# the real Bruker chevkinite map below 10 keV at its automatic rank 10 (groups of 1-39 pixels, 9.3 % outside: the
# evidence passed), its KL loss 7.20e5 against the solver's own 4.69e5 (pure_pixels=False 4.65e5, scikit-learn's
# KL-MU 4.76e5). Wrong members that fit as well stay: Mo / MoS2 / PbS grains whose MoS2 group is one noisy vertex
# pixel read 1.0025-1.0028 (8.97 and 12.86 degrees from the truth). 1.1 lies far above every right member and far
# below that misfit
MAX_NMF_PIXEL_END_RATIO = 1.1
# ... and the same for the Frobenius loss (HALS; the squared residual of the unweighted counts: decompose fits the
# raw counts, configure(poisson=False)), with the same excess bound beside it. Measured 2026-12-07 (issue 17): 1.0027-
# 1.0128 on 8 fits whose pixel end was taken and right (make_cube EDS and EELS, ranks 3-4, 200 and 2000 counts/pixel:
# 0.3-20 degrees from the truth against the solver's own 0.8-60), 1.0033 on the real Velox low-loss EELS map (groups
# of 1-21 pixels), 1.0017 and 1.017 on the real Bruker chevkinite map below 10 keV at k = 2 and 3 (0.02-3.2 degrees
# from the solver's own); 1.145 at k = 7 there (2.3-16 degrees from its own, 161 x its parameters worse: no member of
# the family). Noise-free counts read 0.87-3.13 on right ends (0.0 degrees), their excess 1e-8 of the parameters:
# the excess bound keeps them. The Frobenius route takes the pixel end rarely (the real .bcf at its automatic rank and
# k = 4-6, 8-12, Voronoi grains, Mo / MoS2 / PbS grains, core-shell, Dirichlet mixtures at 20 counts/pixel: refused
# by the evidence or the spectra's end taken, neither checked here). 1.08 lies mid-gap (1.0128-1.017 to 1.145)
MAX_NMF_FROBENIUS_PIXEL_END_RATIO = 1.08
# ... and the spectra's end of the Frobenius loss (a pure-channel or mixed member NMF took), its loadings refitted,
# over the solver's own, with the same excess bound beside it (frobenius_channel_end_misfit; the KL loss's spectra's
# end is judged by the channels' Poisson evidence instead, the Frobenius loss's by a Gaussian one at the residual's
# mean variance, which lets count data's wrong ends through). Measured 2026-12-07 (issue 17, frobenius, 55 scenes,
# against pure_pixels=False and the truth): 0.99998-1.0021 on 16 ground-truth ends taken and nearer the truth than the
# solver's own (worst spectrum 0.7-8.1 degrees against 4.2-24.1: mixed_scene EDS, ranks 2-4, blobs and gradients, 200
# / 2000 counts/pixel, 48 x 48 x 512; make_cube EDS without pure pixels, ranks 3-4; particles on SiN and C films).
# Ends that are wrong but members of the family fit as well and stay: 1.0000-1.039 on 10 (phases without a line of
# their own, mixed_scene own_lines=False, 7-55 degrees from the truth; Ba / Fe on a TiO2 film; lines over a bulk
# continuum). Wrong ends no member of it: two, both on the real Bruker .bcf (the one real EDS file where an end was
# taken: 14 fits here, 2-9 components below 10 keV, 4-5 below 8-15 keV and the full range; frob66's 21, 3-9 below 8,
# 12 and 15 keV), below 10 keV at k = 4, 2.743 (frobenius loss 6.79e7 against 2.47e7, 4.8-30 degrees from the solver's
# own spectra), and below 12 keV at k = 5, 2.092 (0.9-58 degrees). The bound rests on those two wrong cases: 1.2 lies
# five times the highest excess (3.9 %) above every ground-truth end, far under both
MAX_NMF_FROBENIUS_CHANNEL_END_RATIO = 1.2
# A component held at its pixels where the particles' groups fill no plateau (mixed_end) holds at least this share
# of the particles' own counts in their channel groups (line_shares): their line is its line too, and the spectra's
# end would strip it (SiO2 under Si particles 0.5). A constant mixture of a phase of lines of its own next to them
# holds only its continuum there (under 0.01)
SHARED_LINE = 0.1
# ... and, under MIXING_SHARE, a plateau of at least CLEAR_PLATEAU. The core of a smooth blob mixture that levels off
# by chance over MIN_PLATEAU holds the other phases' lines by its mixing alone. Measured 2026-12-05 on the 10 NMF
# fits of 144 blob and gradient mixtures (64 x 64 x 512, ranks 2-4, 200 and 2000 counts/pixel) where it was held:
# shares 0.22-0.27 at plateaus 0.45-0.49 on 6 of them, the held component 9.6-37 degrees from the truth (medians
# 1.6-13.8 against the spectra's end's 1.3-2.6); the 4 others read 0.43-0.80 and stay held. A substrate holding a
# little of the particles' element (Si at 0.1-0.35 of Al under Si particles, 2000 counts/pixel) reads as low a share,
# 0.10-0.28, but its region is flat: plateaus 0.82-0.89 (held: 0.15-0.27 degrees; at the spectra's end 4.3-12).
# Substrates holding the particles' element as a compound read 0.50-0.95 (SiO2 under Si, an oxide under its metal; 17
# sweep scenes at 200 and 2000 counts/pixel, plateaus 0.48-0.88)
MIXING_SHARE = 0.3
CLEAR_PLATEAU = 0.65

# What NMF and MCR do on a verdict, said at the end of the reasons here; VCA, which has no solver's own
# factorisation to keep nor spectra's end to take, says instead what NMF and MCR do (without_action)
KEPT_OWN = ": the solver's own factorisation is kept"
CHANNEL_END_TAKEN = "; the spectra's end taken"
OWN_AT_CHANNEL_END = "; the solver's own spectra kept, at the spectra's end already"
OTHERS_AT_CHANNEL_END = "; each of those taken at the spectra's end"
OTHERS_OWN = "; the solver's own spectra taken for the others"
PIXELS_KEPT = "not taken, the pure pixels kept"  # the spectra's end refused where the pixel end passed
_SAID_BY_OTHERS = {KEPT_OWN: "", CHANNEL_END_TAKEN: "; NMF and MCR take the spectra's end here",
                   OWN_AT_CHANNEL_END: "; NMF and MCR keep their own spectra",
                   OTHERS_AT_CHANNEL_END: "; NMF and MCR take those at the spectra's end",
                   OTHERS_OWN: "; NMF and MCR take their own spectra for the others"}


def end_refused(reason: str) -> str:
    """A reason of the tests here whose spectra's end the caller then refused (MCR: its misfit,
    :data:`MAX_LOSS_RATIO`): what it says was done replaced by the solver's own factorisation kept."""
    for said in (CHANNEL_END_TAKEN, OWN_AT_CHANNEL_END, OTHERS_AT_CHANNEL_END):
        reason = reason.replace(said, "; the solver's own factorisation kept, the spectra's end refused by its misfit "
                                      "(pure_channel_reason)")
    # a line scan's member of pure pixels for some components and the solver's own spectra for the others
    # (line_end) is no spectra's end: said as what it is (a code review)
    return reason.replace(OTHERS_OWN, "; the solver's own factorisation kept, that member (pure pixels for those, "
                                      "the solver's own spectra for the others) refused by its misfit "
                                      "(rotation_loss_ratio)")


def pixel_end_refused(reason: str) -> str:
    """A channel reason of :func:`settle_ends` that kept the pure pixels, whose pixel end the caller then refused
    (MCR: its misfit, :data:`MAX_LOSS_RATIO`; NMF: its fit, :data:`MAX_NMF_PIXEL_END_RATIO`): nor are the pure
    pixels kept. Both forms are read: the verdict first, or last (the spectra's end not needed or not taken)."""
    refused = "nor the pure pixels (refused by their misfit: pure_pixel_reason)"
    if reason.startswith(PIXELS_KEPT):
        return f"not taken, {refused}" + reason[len(PIXELS_KEPT):]
    if reason.endswith("; the pure pixels kept"):
        return reason[: -len("the pure pixels kept")] + refused
    return reason


def max_pixel_end_ratio(loss: str) -> float:
    """The most a pure-pixel member's ``loss``, its loadings refitted, may exceed the solver's own, as a ratio: each
    loss's own bound, measured (:data:`MAX_NMF_PIXEL_END_RATIO`, KL: right ends 1.0012-1.0079;
    :data:`MAX_NMF_FROBENIUS_PIXEL_END_RATIO`: right ends 1.0027-1.0128, the squared residual moves more)."""
    return MAX_NMF_PIXEL_END_RATIO if loss == "kl" else MAX_NMF_FROBENIUS_PIXEL_END_RATIO


def pixel_end_misfit(reason: str, channel_info: dict, loss: str, refit: float, own: float,
                     size: tuple[int, int, int]) -> tuple[str, dict] | None:
    """Whether NMF's pure-pixel member, which the single pixels' evidence passed, fits as the family of equally
    good factorisations does, decided and said in one place: None where it does, else ``(pure_pixel_reason, channel
    info)`` that refuse it. Refused where its ``loss`` (``refit``, loadings refitted) over the solver's own (``own``;
    ``channel_info["rotation_loss_ratio"]``) is above :func:`max_pixel_end_ratio` and worse by more than the fit's
    (pixels + channels) x k parameters (``size``: pixels, channels, k): on noise-free counts both losses are near 0
    and their ratio says nothing (KL 0.045 / 0.039 refused a right pixel end, 0.0 degrees from the truth; Frobenius
    3.13, its excess 1e-8 of them), so the basin probe's bound joins the ratio's. Both bounds said, with their numbers
    (the code review: only the ratio was). The solver's own factorisation kept, the evidence's verdict said; a
    spectra's-end reason that kept the pure pixels says they are not kept (:func:`.purity.pixel_end_refused`)."""
    n_pixels, n_channels, k = size
    parameters = (n_pixels + n_channels) * k
    if not (channel_info["rotation_loss_ratio"] > max_pixel_end_ratio(loss) and refit - own > parameters):
        return None
    said = (f"pure-pixel rotation refused: its spectra, their loadings refitted, fit the data "
            f"{channel_info['rotation_loss_ratio']:.4g} x worse than the solver's own ({loss} loss {refit:.4g} "
            f"against {own:.4g}: more than {max_pixel_end_ratio(loss):g} x, and {refit - own:.4g} more, above the "
            f"fit's (pixels + channels) x k = ({n_pixels} + {n_channels}) x {k} = {parameters} "
            f"parameters; members of the family of equally good factorisations refit within "
            f"{'a few parts in a thousand' if loss == 'kl' else 'about a per cent'}): the groups are no pure "
            f"pixels, though {reason}{KEPT_OWN}")
    if "pure_channel_reason" in channel_info:
        channel_info = channel_info | {"pure_channel_reason": pixel_end_refused(channel_info["pure_channel_reason"])}
    return said, channel_info


def frobenius_channel_end_misfit(reason: str, channel_info: dict, refit: float, own: float,
                                 size: tuple[int, int, int]) -> tuple[str, dict] | None:
    """Whether the spectra's end the Frobenius NMF took (pure channels, or a mixed end) fits as the family of equally
    good factorisations does: None where it does (or where ``channel_info`` took no spectra's end), else
    ``(pure_pixel_reason, channel info)`` that refuse it, as :func:`pixel_end_misfit` returns, the solver's own
    factorisation kept. Refused where its squared residual
    (``refit``, loadings refitted) over the solver's own (``own``; ``channel_info["rotation_loss_ratio"]``) is above
    :data:`MAX_NMF_FROBENIUS_CHANNEL_END_RATIO` and worse by more than the fit's (pixels + channels) x k parameters
    (``size``: pixels, channels, k), as the pixel end's (:func:`pixel_end_misfit`). The KL loss is not checked here:
    its spectra's end is judged by the channels' Poisson evidence, which refuses the real .bcf's (19 % of the
    channels outside at k = 4) where the Frobenius loss's Gaussian evidence at one variance, the residual's mean,
    reads 0.6 % and passes. ``reason``: the single pixels' ``pure_pixel_reason``, which the channel info's, where it
    has one, replaces (:func:`end_refused` says the spectra's end refused)."""
    n_pixels, n_channels, k = size
    parameters = (n_pixels + n_channels) * k
    ratio = channel_info["rotation_loss_ratio"]
    # only a member the channel test took: the pure pixels the map showed (shown_on_map), a line scan's member and
    # the solver's own kept by the map are no spectra's end
    if not (channel_info.get("pure_channel_rotation") and ratio > MAX_NMF_FROBENIUS_CHANNEL_END_RATIO
            and refit - own > parameters):
        return None
    said = (f"pure-channel rotation refused: its spectra, their loadings refitted, fit the data {ratio:.4g} x worse "
            f"than the solver's own (frobenius loss {refit:.4g} against {own:.4g}: more than "
            f"{MAX_NMF_FROBENIUS_CHANNEL_END_RATIO:g} x, and {refit - own:.4g} more, above the fit's (pixels + "
            f"channels) x k = ({n_pixels} + {n_channels}) x {k} = {parameters} parameters; spectra's ends of the "
            f"family of equally good factorisations refit within a few per cent): no member of it, though "
            f"{channel_info['pure_channel_reason']}{KEPT_OWN}")
    pixel_reason = end_refused(channel_info.get("pure_pixel_reason", reason))
    refused = {key: v for key, v in channel_info.items() if key != "mixed_end"}
    return pixel_reason, refused | {"pure_channel_rotation": False, "pure_pixel_rotation": False,
                                    "pure_channel_reason": said, "pure_pixel_reason": pixel_reason}


def without_action(reason: str) -> str:
    """A reason of the tests here as a method that takes no end of the family reads it (VCA): the verdict, and what
    NMF and MCR do on it in place of what is done."""
    for said, instead in _SAID_BY_OTHERS.items():
        reason = reason.replace(said, instead)
    return reason


def pure_pixel_rotation(w: np.ndarray, h: np.ndarray, groups, floor: float = 0.0, m: np.ndarray | None = None):
    """``(W M^-1 clipped at floor, M H, M)`` for pixel-index groups (one per component), or ``None`` when the
    groups do not define an invertible rotation (fewer groups than components, or two groups on one vertex).

    ``m``: ``M`` where the caller reads it from elsewhere than ``W`` (MCR: :func:`group_fit_rotation`)."""
    m = group_rotation(w, groups) if m is None else _usable(m)
    if m is None:
        return None
    w_new = np.maximum(w @ np.linalg.inv(m), floor)
    h_new = np.maximum(m @ h, 0.0)
    return w_new, h_new, m


def group_rotation(w: np.ndarray, groups) -> np.ndarray | None:
    """``M`` of :func:`pure_pixel_rotation` (rows: each group's summed loadings, unit sum), or None."""
    if not one_group_each(groups, w.shape[1]):
        return None
    m = np.stack([w[np.asarray(g)].sum(axis=0) for g in groups])
    m /= np.maximum(m.sum(axis=1, keepdims=True), 1e-300)
    return _usable(m)


def one_group_each(groups, k: int) -> bool:
    """Whether ``groups`` holds one non-empty pixel group per component."""
    return len(groups) == k and all(len(g) > 0 for g in groups)


def group_fit_rotation(sums: np.ndarray, h: np.ndarray, noise: str = "poisson", n_iter: int = 20) -> np.ndarray | None:
    """``M`` of :func:`pure_pixel_rotation` from each group's summed spectrum ``sums`` (k, channels), fitted by the
    spectra ``h`` (k, channels; data units) without a sign constraint: least squares for ``noise="gaussian"``;
    for counts, the iterate of a Poisson maximum-likelihood fit (iteratively reweighted least squares, started from
    least squares) whose clipped row fits the sum best. Then clipped at zero and scaled to unit-sum rows. None where
    they define no rotation.

    Why not the groups' summed loadings (:func:`group_rotation`): a solver that clips each pixel's least-squares
    loadings at zero (MCR-ALS) keeps the positive half of a pure pixel's noise on its absent components, and
    summed over a group that half reads as a share that is not there. Fitting the summed spectrum is linear in
    the data, so the noise sums to zero instead.

    Why the best iterate, not the last: where the model of a row is not positive in some channel, the floor gives
    that channel a huge weight and the reweighting can cycle between two points (seen on a rank-5 cube at 20
    counts/pixel: one spectrum 4.8 degrees from the truth with the better point, 18.0 with the one the 20th
    iteration happened to land on)."""
    m = np.linalg.lstsq(h.T, sums.T, rcond=None)[0].T
    if noise == "poisson":
        floor = 1e-9 * max(float(np.max(sums)), 1e-300)

        def cost(row, x):  # Poisson negative log-likelihood of the clipped row, the one returned
            mu = np.maximum(np.maximum(row, 0.0) @ h, floor)
            return float(mu.sum() - x @ np.log(mu))

        best = m.copy()
        best_cost = [cost(m[i], sums[i]) for i in range(len(m))]
        for _ in range(n_iter):
            mu = np.maximum(m @ h, floor)
            for i in range(len(m)):
                hw = h / mu[i]
                m[i] = np.linalg.lstsq(hw @ h.T, hw @ sums[i], rcond=None)[0]
                c = cost(m[i], sums[i])
                if c < best_cost[i]:
                    best[i], best_cost[i] = m[i], c
        m = best
    # a group's spectrum lies in the cone of the non-negative solution's spectra; a negative share is the noise of
    # a group of a few pixels (measured: a 2-pixel group at 20 counts/pixel read -0.16, rotating one spectrum from
    # 7.2 to 11.3 degrees off). Clipping the group's sum, not each pixel, keeps the bias at the sum's noise
    m = np.maximum(m, 0.0)
    total = m.sum(axis=1, keepdims=True)
    return _usable(m / np.where(total == 0, 1.0, total))


def _usable(m: np.ndarray) -> np.ndarray | None:
    """``m``, or None where it defines no rotation (not finite, or two rows on one vertex)."""
    return m if np.all(np.isfinite(m)) and np.linalg.cond(m) <= MAX_CONDITION else None


def rotated_spectra(w: np.ndarray, h: np.ndarray, groups) -> np.ndarray | None:
    """The spectra of :func:`pure_pixel_rotation` (unit sum), or None when the groups give no rotation."""
    m = group_rotation(w, groups)
    if m is None:
        return None
    r = np.maximum(m @ h, 0.0)
    return r / np.maximum(r.sum(axis=1, keepdims=True), 1e-300)


def max_angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """The largest angle between corresponding rows of ``a`` and ``b``, in degrees."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-300)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max())


class SettledStop:
    """The stop of a solver whose result will be rotated to the pure-pixel ``groups`` (NMF from the endmembers,
    MCR-ALS): the rotation fixes the member of the family of equally good factorisations, so the iterations need
    only settle the fit, not the crawl along that family that a loss rule waits for. Called at each check with the
    current factors (W, H), the loss at the previous check (``inf`` at the first) and the current one; true once the
    rotated spectra (:func:`rotated_spectra`) moved less than :data:`SETTLED_DEGREES` since the previous call, the
    loss fell by less than :data:`SETTLED_LOSS` (relative) and ``holds(W, H)`` (the rotation evidence)."""

    def __init__(self, groups, holds):
        self.groups, self.holds, self.last = groups, holds, None
        self.checks, self.next_ask = 0, 0

    def __call__(self, w: np.ndarray, h: np.ndarray, before: float, loss: float) -> bool:
        self.checks += 1
        now = rotated_spectra(w, h, self.groups)
        settled = (now is not None and self.last is not None and max_angle_degrees(now, self.last) < SETTLED_DEGREES
                   and before - loss <= SETTLED_LOSS * max(abs(loss), 1e-12))
        self.last = now
        if not settled or self.checks < self.next_ask:
            return False
        if self.holds(w, h):
            return True
        # refused: asked again once as many checks again have passed. The evidence is a sweep of the sampled
        # pixels (0.3 s on 64 x 64 x 2048 EELS); asked at every check of a fit whose spectra settled while it kept
        # refusing, it took 43 of an MCR fit's 50 s (127 asks) where the solver's own took 6.5 s
        self.next_ask = 2 * self.checks
        return False


def channel_end_spectra(h: np.ndarray) -> np.ndarray | None:
    """The spectra of :func:`pure_channel_rotation` for the spectra ``h`` (unit sum; its rotation needs ``h`` only),
    or None when the channel groups give no rotation. O(channels k^2): cheap enough for every loss check."""
    m = group_rotation(h.T, channel_groups(h))
    if m is None:
        return None
    r = np.maximum(h.T @ np.linalg.inv(m), 0.0).T
    return r / np.maximum(r.sum(axis=1, keepdims=True), 1e-300)


class ChannelSettledStop:
    """:class:`SettledStop` for the spectra's end (:func:`pure_channel_rotation`, EDS data, an NNDSVDa start): true
    once the pure-channel member's spectra (:func:`channel_end_spectra`) moved less than :data:`SETTLED_DEGREES`
    since the previous call, the loss fell by less than :data:`SETTLED_LOSS` (relative) and ``holds(W, H)`` (the
    channel evidence). The evidence costs a sweep of the sampled pixels: it is asked once, and where it refuses the
    stop never fires (the loss rule decides). The caller goes on to the loss rule where the end it then takes is not
    the spectra's end (:func:`.nmf.nmf`). Measured (issue 17, 96 x 96 x 1024 EDS mixtures, rank 2, 2000
    counts/pixel): the returned spectra settle at 0.29 / 0.28 degrees from the truth after ~170 iterations, where
    the loss rule ran 460-530 for 0.30 / 0.30 (the solver's own spectra drifting along the family meanwhile)."""

    def __init__(self, holds):
        self.holds, self.last, self.refused = holds, None, False

    def __call__(self, w: np.ndarray, h: np.ndarray, before: float, loss: float) -> bool:
        if self.refused:
            return False
        now = channel_end_spectra(h)
        settled = (now is not None and self.last is not None and max_angle_degrees(now, self.last) < SETTLED_DEGREES
                   and before - loss <= SETTLED_LOSS * max(abs(loss), 1e-12))
        self.last = now
        if settled and not self.holds(w, h):
            self.refused = True
            return False
        return settled


def outside_scores(w: np.ndarray, h: np.ndarray, groups, noise: str = "poisson", sigma2: float = 1.0,
                   max_pixels: int = EVIDENCE_PIXELS):
    """(pixel indices, z) for an evenly spaced sample of at most ``max_pixels`` pixels: ``z`` (pixels, k) is each
    rotated loading ``(W M^-1)_ic`` (:func:`pure_pixel_rotation`, unclipped) divided by its standard error
    (:func:`_rotated_loadings`). ``None`` when the groups give no rotation."""
    rotated = _rotated_loadings(w, h, groups, noise, sigma2, max_pixels)
    if rotated is None:
        return None
    idx, wr, se, _ = rotated
    return idx, wr / se


def _rotated_loadings(w: np.ndarray, h: np.ndarray, groups, noise: str, sigma2: float, max_pixels: int):
    """(pixel indices, rotated loadings ``W M^-1``, their standard errors, ``M``) for an evenly spaced sample of at
    most ``max_pixels`` pixels, or None when the groups give no rotation.

    The standard error comes from the Fisher information of the pixel's loadings for fixed spectra ``H`` (data
    units: W (pixels, k) and H (k, channels) with ``X ~= W H``): ``H diag(1 / mu_i) H^T`` for Poisson counts
    (``mu_i = w_i H``, but at least :data:`MODEL_FLOOR` of the sampled pixels' mean model at each channel,
    scaled to the pixel's total), ``H H^T / sigma2`` for Gaussian noise; the covariance of ``w_i`` is its inverse
    and that of ``w_i M^-1`` follows."""
    m = group_rotation(w, groups)
    if m is None:
        return None
    n, k = w.shape
    idx = np.unique(np.linspace(0, n - 1, min(n, max_pixels)).round().astype(np.int64))
    minv = np.linalg.inv(m)
    wi = w[idx]
    if noise == "poisson":
        totals = wi.sum(axis=1)
        mean_model = (wi.mean(axis=0) @ h) / max(float(totals.mean()), 1e-300)  # per unit of a pixel's total
        tiny = 1e-12 * max(float(h.max()), 1e-300)
        hh = (h[:, None, :] * h[None, :, :]).reshape(k * k, -1)  # one matrix product, not einsum's loops (4x)
        info = np.empty((len(idx), k, k))
        # in blocks of pixels: the model of all 4096 sampled pixels is a (4096, channels) float64 array, and building
        # it whole (with its reciprocal) cost page faults and memory traffic: 48 ms against 22 in blocks (median,
        # 1024 channels, k = 3)
        for lo in range(0, len(idx), EVIDENCE_BLOCK):
            floor = np.maximum(MODEL_FLOOR * np.outer(totals[lo : lo + EVIDENCE_BLOCK], mean_model), tiny)
            inv_mu = np.maximum(wi[lo : lo + EVIDENCE_BLOCK] @ h, floor)
            np.divide(1.0, inv_mu, out=inv_mu)
            info[lo : lo + EVIDENCE_BLOCK] = (inv_mu @ hh.T).reshape(-1, k, k)
    else:
        info = np.broadcast_to((h @ h.T) / max(sigma2, 1e-300), (len(idx), k, k))
    info = info + 1e-12 * np.trace(info, axis1=1, axis2=2)[:, None, None] * np.eye(k)  # never singular
    cov = np.linalg.inv(info)
    cov_rot = np.einsum("ca,icd,db->iab", minv, cov, minv, optimize=True)
    se = np.sqrt(np.maximum(np.einsum("icc->ic", cov_rot), 1e-300))
    return idx, wi @ minv, se, m


def rotation_evidence(w: np.ndarray, h: np.ndarray, groups, noise: str = "poisson", sigma2: float = 1.0):
    """Whether the data hold pure pixels at ``groups``: ``(apply, evidence, reason)``.

    The rotation of :func:`pure_pixel_rotation` declares each group's pixels pure, i.e. the groups sit on the
    vertices of the data simplex. Then every pixel lies inside the simplex of the groups (non-negative rotated
    loadings) up to noise. Without pure pixels the groups are only the most extreme *mixtures* (the vertices lie
    outside the data), and the smoothly curved data cloud bulges out of the groups' simplex: a mixture ``(0.6, 0.3,
    0.1)`` next to a group at ``(0.7, 0.2, 0.1)`` gets a clearly negative rotated loading.
    ``evidence["outside_fraction"]`` is the fraction of (a sample of, :func:`outside_scores`) pixels with a rotated
    loading below both ``-OUTSIDE_SHARE`` of the pixel's total and ``-OUTSIDE_SIGMAS`` standard errors; the rotation
    is applied when it is at most :data:`MAX_OUTSIDE` and at most :data:`MAX_DEEP` lie outside by more than
    :data:`DEEP_SIGMAS` standard errors (``evidence["deep_outside_fraction"]``: no noise puts a pixel there, a
    cluster of mixtures the groups' simplex misses does). Pure pixels do not give exactly zero: a group is a
    neighbourhood in the noisy PCA subspace, so its centre lies a little inside the vertex and the purest pixels a
    little outside. Measured (NMF, rank 3, :mod:`groundtruth` scenes; before :data:`MODEL_FLOOR`, which lowers
    such fractions where the solver's model has near-empty channels): with pure pixels 0.000 (64 x 64 x 512, 20 and
    200 counts/pixel), 0.055 (40 x 40 x 256, 200) and 0.046 (the demo's EDS sample, 80 x 64 x 1024); without, 0.17
    and 0.59 (softly mixed cubes, 200 and 20) and 0.46 (Gaussian blobs, 200).

    Smooth Gaussian-blob mixtures whose plateaus look pure fall in the same band as pure-pixel scenes
    (0.0002-0.081 outside, groups 25-59 % mixed in the solver's factorisation, against 0-0.055 outside and 5-21 %
    mixed with pure pixels), and pass (they were rotated: 18-24 degrees where the solver's own spectra are 3-19).
    A tighter rule tried (rotate only below 0.5 % outside, or below 15 % mixing) refused the demo's EDS
    sample (4.6 % outside, 19 % mixed), whose NMF spectra then went from 0.75 / 1.39 / 3.28 to 2.69 / 49.6 / 7.15
    degrees from the truth: the two classes overlap in these numbers. Nor does the spectra's end settle it where both
    pass: a plateau of a mixture and a phase of its own are the same data (two phases of one alloy, made of the
    same elements in different proportions and each present pure, need the pure pixels: 0.6-1.7 degrees, against
    14-17 at the spectra's end; ``test_no_pure_pixels``). On EDS data the callers weigh the two ends by the shape
    of the groups' regions (:func:`settle_ends`); on EELS data, which has no spectra's end, the blobs remain a
    known limitation. ``noise``, ``sigma2``: as :func:`outside_scores`."""
    k = w.shape[1]
    ev: dict = {"group_sizes": [int(len(g)) for g in groups], "max_outside": MAX_OUTSIDE,
                "outside_share": OUTSIDE_SHARE, "outside_sigmas": OUTSIDE_SIGMAS}
    rotated = _rotated_loadings(w, h, groups, noise, sigma2, EVIDENCE_PIXELS)
    if rotated is None:
        return False, ev, f"no rotation: the {len(groups)} pixel groups do not define {k} distinct vertices"
    idx, wr, se, m = rotated
    total = np.maximum(np.abs(wr).sum(axis=1), 1e-300)
    share = wr / total[:, None]
    below = share < -OUTSIDE_SHARE
    outside = np.any(below & (share < -OUTSIDE_SIGMAS * se / total[:, None]), axis=1)
    ev["outside_fraction"] = float(np.mean(outside))
    deep = np.any(below & (wr < -DEEP_SIGMAS * se), axis=1)
    ev["deep_outside_fraction"] = float(np.mean(deep))
    ev["negative_mass"] = float(np.maximum(-wr, 0.0).sum() / max(float(np.abs(wr).sum()), 1e-300))
    ev["pixels_sampled"] = int(len(idx))
    ev["group_mixing"] = float(1.0 - np.mean(np.max(m, axis=1)))  # how far from pure the solver's groups are
    out = 100 * ev["outside_fraction"]
    if ev["outside_fraction"] <= MAX_OUTSIDE and ev["deep_outside_fraction"] <= MAX_DEEP:
        return True, ev, (f"pure pixels: {out:.1f} % of the pixels lie outside the simplex of the {k} pure-pixel "
                          f"groups (at most {100 * MAX_OUTSIDE:.0f} %)")
    if ev["outside_fraction"] <= MAX_OUTSIDE:
        return False, ev, (f"no pure pixels shown: {100 * ev['deep_outside_fraction']:.1f} % of the pixels lie "
                           f"outside the simplex of the {k} candidate groups by more than {DEEP_SIGMAS:g} standard "
                           f"errors (more than {100 * MAX_DEEP:.1f} %): not the noise of pixels at the vertices but "
                           f"pixels the simplex misses{KEPT_OWN}")
    # "shown", not a finding about the sample: the candidate groups' spread grows with k, and five pure phases (40 x
    # 40 x 1024 EDS, 200 counts/pixel, continuum 90 % of the counts) put 11-12 % of the pixels outside (a reviewer)
    many = (f"; with {k} components pure phases too can spread past this limit (five pure phases measured 11-12 %)"
            if k >= 4 else "")
    return False, ev, (f"no pure pixels shown: {out:.1f} % of the pixels lie outside the simplex "
                       f"of the {k} candidate groups (more than {100 * MAX_OUTSIDE:.0f} %){KEPT_OWN}{many}")


def _better_determined(h: np.ndarray) -> np.ndarray:
    """The channels whose model total is at least the median (their shares are the better determined half)."""
    total = h.sum(axis=0)
    return np.flatnonzero(total >= np.median(total))


def continuum_floor(h: np.ndarray) -> np.ndarray:
    """Each spectrum ``h[c]`` (clipped at 0) raised to its running mean over :data:`FLOOR_WINDOW` of the channels:
    its continuum level where the solver left it near zero on a faint continuum, its lines unchanged."""
    hp = np.maximum(np.asarray(h, dtype=float), 0.0)
    width = max(5, int(round(hp.shape[1] * FLOOR_WINDOW)) | 1)
    pad = width // 2
    c = np.cumsum(np.pad(hp, ((0, 0), (pad + 1, pad)), mode="edge"), axis=1)
    return np.maximum(hp, (c[:, width:] - c[:, :-width]) / width)


def channel_groups(h: np.ndarray, cand: np.ndarray | None = None, size: int = CHANNEL_GROUP_SIZE,
                   floor: bool = False) -> list[np.ndarray]:
    """For each component, the ``size`` channels where its share of the model ``h[:, j] / sum(h[:, j])`` is
    largest, among the candidate channels ``cand`` (default: the better-determined half, model total at least the
    median): the vertices of the channel cloud, as the pixel groups are of the pixel cloud. ``floor``: the shares
    of the spectra raised to their continuum level (:func:`continuum_floor`; :func:`pure_channel_rotation` says
    where)."""
    cand = _better_determined(h) if cand is None else cand
    m = continuum_floor(h)[:, cand] if floor else h[:, cand]
    share = m / np.maximum(m.sum(axis=0), 1e-300)
    return [np.sort(cand[np.argsort(-share[c], kind="stable")[:size]]) for c in range(h.shape[0])]


def pure_channel_rotation(w: np.ndarray, h: np.ndarray, noise: str = "poisson", sigma2: float = 1.0):
    """``(apply, evidence, reason, (W', H') or None)``: the member of the family whose spectra are pure (one
    non-zero) at each component's :func:`channel_groups`, and whether the data support it (at most
    :data:`MAX_OUTSIDE_CHANNELS` of the channels outside the groups' simplex, by the test of
    :func:`rotation_evidence` on the transposed factorisation). ``W``, ``H`` in data units; ``H'`` clipped at 0.

    Where the solver's own spectra are pure at those groups already, the groups may lie where the others' model is
    near zero on a faint continuum rather than at a line of the component's own: at few counts a solver leaves a
    minor phase's continuum near zero (Ag particles on Al, 50 x 50 x 2048 at 200 counts/pixel: the Al groups at
    4-9 keV, the solver's Ag spectrum a mixture holding Al Ka, 43-49 degrees from the truth, was its own spectra's
    end). The groups are then chosen once more from the spectra raised to their continuum level
    (:func:`continuum_floor`, :func:`floored_channel_rotation`), and that member is taken where it passes the same
    evidence and the solver's own spectra are not pure at those groups already (``evidence["floored"]``).
    Measured (NMF and MCR on 280 EDS scenes, 560 fits, against the raw groups only): 529 the same; 28 better, Ag
    on Al 2.0-2.2 -> 1.4-1.5 degrees (median), Si on SiO2, Fe on its oxide and Si on alumina at 200 counts/pixel
    3.4-13.2 -> 1.5-10.5; 3 worse, where a phase has no line of its own: two NMF mixtures 10.3 / 14.2 -> 14.7 /
    15.9 (the solver's own 10.3 / 14.2), an MCR map 15.7 -> 16.4."""
    # the test runs over the channels the groups are chosen from: in the faint tail of an EDS continuum (near the
    # beam energy) the pure-channel member leaves a systematic -11 % share (the continuum is under every line, so
    # pinning a line's channels to one phase takes a little continuum from the others)
    cand = _better_determined(h)
    out = _pure_channel_member(w, h, cand, channel_groups(h, cand), noise, sigma2)
    if not out[1].get("pure_already"):
        return out
    apply, ev, reason, rot = floored_channel_rotation(w, h, noise, sigma2)
    if not apply:
        return out
    ev |= {"floored": True, "unfloored_group_channels": out[1]["group_channels"]}
    return True, ev, (f"{reason}; the channel groups chosen from the spectra raised to their continuum level, where "
                      "the solver's own spectra are pure at the groups of their largest shares already (a near-zero "
                      "continuum, not a line of the component's own)"), rot


def floored_channel_rotation(w: np.ndarray, h: np.ndarray, noise: str = "poisson", sigma2: float = 1.0):
    """:func:`pure_channel_rotation` at the channel groups chosen from the spectra raised to their continuum level
    (:func:`channel_groups` with ``floor``), whatever the first groups show."""
    cand = _better_determined(h)
    return _pure_channel_member(w, h, cand, channel_groups(h, cand, floor=True), noise, sigma2)


def _pure_channel_member(w, h, cand, groups, noise, sigma2):
    """:func:`pure_channel_rotation` at the given channel ``groups`` (among the candidate channels ``cand``)."""
    k = w.shape[1]
    n = w.shape[0]
    sub = np.unique(np.linspace(0, n - 1, min(n, CHANNEL_EVIDENCE_PIXELS)).round().astype(np.int64))
    # the information of a channel's values sums over pixels: a subset scaled up (Poisson: linear in W's scale,
    # Gaussian: quadratic) stands for all of them
    scale = n / len(sub) if noise == "poisson" else np.sqrt(n / len(sub))
    local = [np.searchsorted(cand, g) for g in groups]
    _, ev, _ = rotation_evidence(h[:, cand].T, (w[sub] * scale).T, local, noise=noise, sigma2=sigma2)
    ev = {"group_channels": [g.tolist() for g in groups], "max_outside": MAX_OUTSIDE_CHANNELS} | {
        key: ev[key] for key in ("outside_fraction", "negative_mass", "group_mixing") if key in ev}
    # how much of each group's counts the other components hold, against its binomial standard error: where the
    # solver's own spectra are pure there already (sparse counts: KL-NMF drives those values to zero itself),
    # the rotation would only move them by noise
    component_counts = w.sum(axis=0)[:, None]
    counts = np.stack([(component_counts * h[:, g]).sum(axis=1) for g in groups])  # (group, component)
    total = np.maximum(counts.sum(axis=1), 1e-300)
    share = np.diag(counts) / total
    impurity = 1.0 - share
    ev["group_impurity"] = impurity.tolist()
    if "outside_fraction" not in ev:  # the evidence found no rotation: two groups on one vertex
        return False, ev, f"no rotation: the {k} channel groups do not define {k} distinct vertices", None
    ev["pure_already"] = not np.any(impurity > OUTSIDE_SIGMAS * np.sqrt(np.maximum(share * impurity, 0.0) / total))
    if ev["pure_already"]:
        return False, ev, (f"the solver's spectra are pure at the {k} channel groups already (other components "
                           f"hold at most {100 * impurity.max():.2g} % of their counts, within "
                           f"{OUTSIDE_SIGMAS:g} standard errors): kept"), None
    out = 100 * ev["outside_fraction"]
    if ev["outside_fraction"] > MAX_OUTSIDE_CHANNELS:
        return False, ev, (f"no pure channels: {out:.1f} % of the channels lie outside the simplex of the {k} "
                           f"channel groups (more than {100 * MAX_OUTSIDE_CHANNELS:.0f} %; a phase without a line "
                           "of its own?)"), None
    # the same group rows as the evidence's rotation (computed over the candidate channels), so it exists; read
    # above the continuum where the lines stand on one (excess_rotation) and that defines a rotation
    total = w.mean(axis=0) @ h  # the model's mean spectrum: the same for every member of the family
    ev["continuum_share"] = continuum_share(total, groups)
    strong = ev["continuum_share"] >= MIN_CONTINUUM_SHARE
    excess = line_excess(h, groups, total) if strong else None
    m = excess_rotation(excess)
    rotated = pure_pixel_rotation(h.T, w.T, groups, m=m) if m is not None else None
    ev["above_continuum"] = rotated is not None
    share = 100 * ev["continuum_share"]
    if excess is not None and not stands_above_flanks(excess):
        # each component alone at its group would strip the others' continuum from under the lines, and a group that
        # stands above no flank holds no line: nothing the data show pins the spectra's end. (A group too near the
        # axis' end for a flank is not read: the member pure at it is kept, as before -- right on mixed_scene's
        # 0.28 keV lines, 0.29 degrees where the solver's own is 3.35.) Measured on lines_over_continuum_scene
        # (smooth mixtures and grains, seeds 0-14, NMF and MCR, 100 fits): 4 such, 3 better (MCR 15.1 / 18.8 / 10.1
        # -> 6.7 / 1.9 / 7.5 degrees: the solver's own, or the pure pixels that were weighed against it), one worse
        # (MCR 5.2 -> 10.4, the solver's own)
        ev["stands_above_flanks"] = False
        return False, ev, (f"no pure channels: the continuum holds {share:.0f} % of the model at the {k} channel "
                           f"groups (at least {100 * MIN_CONTINUUM_SHARE:.0f} %), so each component alone there would "
                           "strip the others' continuum, and a group stands above no flank (no line of its own "
                           "there)"), None
    h_rot, w_rot, _ = rotated if rotated is not None else pure_pixel_rotation(h.T, w.T, groups)
    how = "each component alone at a line of its own"
    if ev["above_continuum"]:
        how = (f"each component without a line at the others' lines, read above the continuum at their lower "
               f"flanks (the continuum holds {share:.0f} % of the model at the groups' channels, at least "
               f"{100 * MIN_CONTINUUM_SHARE:.0f} %)")
    return True, ev, (f"pure channels: {out:.1f} % of the channels lie outside the simplex of the {k} channel groups "
                      f"(at most {100 * MAX_OUTSIDE_CHANNELS:.0f} %), taken as {how}; an assumption where phases "
                      "share every line (as an oxide and its metal), which the channels cannot show: compare "
                      "pure_pixels=False"), (w_rot.T, h_rot.T)


def line_width(total: np.ndarray, j: int) -> int:
    """Full width at half maximum, in channels, of the peak of ``total`` (a model spectrum) at or beside channel
    ``j`` (the largest value within 3 channels), above the lowest value within :data:`FLANK_SEARCH` channels; at
    least 2."""
    p = len(total)
    peak = max(0, j - 3) + int(np.argmax(total[max(0, j - 3) : j + 4]))
    lo, hi = max(0, peak - FLANK_SEARCH), min(p, peak + FLANK_SEARCH + 1)
    half = 0.5 * (total[peak] + float(np.min(total[lo:hi])))
    left = peak
    while left > lo and total[left - 1] > half:
        left -= 1
    right = peak
    while right < hi - 1 and total[right + 1] > half:
        right += 1
    return max(2, right - left + 1)


def continuum_share(total: np.ndarray, groups) -> float:
    """The median over the groups' channels of the continuum's share of the model there: the lowest value of
    ``total`` (the model's mean spectrum) 1-3 line widths to either side, over the value at the channel. A line
    standing alone reads near 0; a line over a strong continuum, or a channel of continuum, near 1."""
    p = len(total)
    shares = []
    for j in np.concatenate([np.asarray(g) for g in groups]).astype(int):
        width = line_width(total, j)
        lo, hi = max(0, j - 3 * width), min(p, j + 3 * width + 1)
        flanks = np.r_[total[lo : max(lo, j - width + 1)], total[min(hi, j + width) : hi]]
        if flanks.size and total[j] > 0:
            shares.append(float(flanks.min()) / float(total[j]))
    return float(np.median(shares)) if shares else 0.0


def excess_rotation(d: np.ndarray | None) -> np.ndarray | None:
    """``M`` of the spectra's end read above the continuum from the excess matrix ``d`` (:func:`line_excess`; None
    passes through), or None where the excesses define no rotation.

    The pure-channel member takes each component alone at its channel group. But an EDS line sits on the continuum
    of every phase present, and the member that zeroes the others there strips their continuum from their spectra.
    Here each component's spectrum is required to have no *line* at the others' groups instead: row ``c'`` of the
    spectra is as high at each channel of group ``c`` (``c != c'``) as at its flank, the 3 channels
    :data:`FLANK_WIDTHS` line widths (:func:`line_width` of ``total``, the model's mean spectrum) to the side where
    ``total`` is lower (the other side may hold another line: O Ka's right flank is on Fe L beside an iron oxide;
    one flank misses the continuum's slope over 1.5 widths, 0.2-0.5 degrees on ``test_purity``'s noise-free pair).
    The flank is chosen by ``total``, the same for every component, so the excess is linear in the rotation: with
    ``D[c]`` the summed excess of the solver's spectra ``h`` over their flanks at group ``c``, the spectra
    ``(D^T)^-1 h`` have it, as the pure-channel member's ``(S^T)^-1 h`` with ``S[c]`` the plain group sums is pure
    there. Returned as :func:`group_rotation`'s ``M`` (rows ``D[c]``, unit sum), for :func:`pure_pixel_rotation` of
    the transposed factorisation. Measured on smooth mixtures of :func:`groundtruth.lines_over_continuum_scene`
    (64 x 64 x 1024, 500 counts/pixel, ranks 2-3, three seeds), NMF: 12.5 / 5.8 / 13.2 / 10.3 / 17.1 / 7.1 ->
    12.5 / 1.9 / 6.5 / 3.4 / 3.9 / 4.4 degrees from the truth (the solver's own 13.4 / 3.3 / 12.2 / 9.6 / 17.1 /
    16.4); MCR 10.7 / 5.4 / 5.3 / 10.1 / 13.0 / 9.2 -> 10.7 / 1.8 / 5.3 / 10.1 / 3.6 / 3.7."""
    if d is None or not stands_above_flanks(d):
        return None
    return _usable(d / d.sum(axis=1, keepdims=True))


def stands_above_flanks(d: np.ndarray) -> bool:
    """Whether every group's summed excess (rows of :func:`line_excess`) is positive in the model: a group that does
    not stand above its flanks holds no line."""
    return bool(np.all(d.sum(axis=1) > 0))


def line_excess(h: np.ndarray, groups, total: np.ndarray) -> np.ndarray | None:
    """``D`` (groups, components) of :func:`excess_rotation`: ``D[c]`` the summed excess of the spectra ``h``
    over their flanks at group ``c``; None where a group's channel is too near the axis' end for a flank on both
    sides."""
    k, p = h.shape
    d = np.zeros((k, k))
    for c, g in enumerate(groups):
        for j in np.asarray(g).astype(int):
            off = int(round(FLANK_WIDTHS * line_width(total, j)))
            if j - off - 1 < 0 or j + off + 1 >= p:
                return None  # a line too near the axis' end for a flank on both sides
            left, right = np.r_[j - off - 1 : j - off + 2], np.r_[j + off - 1 : j + off + 2]
            flank = left if total[left].sum() <= total[right].sum() else right
            d[c] += h[:, j] - h[:, flank].mean(axis=1)
    return d


def channel_end(w: np.ndarray, h: np.ndarray, pixel_end, eds: bool, layout=None, noise: str = "poisson",
                sigma2: float = 1.0, refused=None, refused_reason: str = "", channel_start=None,
                refused_evidence: dict | None = None):
    """The spectra's end of the family for a caller's factorisation ``(w, h)`` (data units): ``(info, (W', H') or
    None)`` with ``info`` the result's ``pure_channel_rotation``, ``pure_channel_reason`` and (when tried)
    ``pure_channel_evidence``; None keeps the pixel end where there is one. ``pixel_end``: the pure-pixel member
    ``(W M^-1, M H)`` in data units where the caller's pure-pixel evidence held, else None.

    Where the pixels' positions are known (``layout``, a :class:`.regions.PixelLayout`, of at least
    :data:`.regions.MIN_PIXELS_TO_REFUSE` pixels), the pixel end
    is first judged on the map: a vertex that more than :data:`MAX_BEYOND` of the pixels lie beyond, by more than
    their noise (:attr:`.regions.RegionShape.beyond`), bounds no region of the data, and the pixel end is refused
    (``info`` then also sets ``pure_pixel_rotation`` False with its ``pure_pixel_reason``, and ``pure_pixel_regions``
    holds the fractions): the spectra's end where it passes its own evidence, else the solver's own ``(w, h)``.
    The single pixels' evidence (:func:`rotation_evidence`) cannot see this where their noise is large (few counts)
    or where the mixtures beyond spread smoothly. It is refused likewise where no group fills a region of constant
    composition (every component's :attr:`.regions.RegionShape.plateau` under :data:`MIN_PLATEAU`) and some pixels
    lie beyond a vertex (more than :data:`NARROW_BEYOND`; none do beyond pure layers too narrow to fill a plateau,
    3 pixels wide, which are kept): at 2000 counts/pixel the extreme mixtures of a smooth EELS mixture lie beyond
    their groups' vertex by more than their noise on only 7-10 % of the pixels, as a true vertex's noisy pixels do,
    but no component's share levels off there (issue 17, 96 x 96 x 1024: blobs of three phases 19.5 degrees from
    the truth at the pixel end, the solver's own 8.5-15.5; a two-phase gradient 8.6, its own 3.1-4.2). It is refused
    too where a map of :data:`.regions.MIN_PIXELS` or more is mixed at every pixel: no component's share is alike
    between neighbouring pixels
    (:attr:`.regions.RegionShape.structure` under :data:`MIN_STRUCTURE`) and few pixels reach a vertex (their
    :attr:`.regions.RegionShape.at_vertex` summed under :data:`MAX_AT_VERTICES`); the solver's own is kept there,
    the spectra's end not tried. Else, on
    EDS data only, the spectra's end is tried (:func:`pure_channel_rotation`); where both ends pass, they are
    weighed (:func:`settle_ends`).

    Where the caller's single pixels' evidence refused the pixel end as a whole (``refused``: the refused groups'
    member ``(W M^-1, M H)`` in data units) and the spectra's end is taken, a component whose group is a vertex of a
    region of its own and that holds the other components' lines keeps its pixel end (:func:`substrate_of_refused`;
    ``info`` then sets ``mixed_end`` and a ``pure_pixel_reason`` that ends with ``refused_reason``, why the pixel end
    was refused). Where the spectra's end is taken for all, ``info``'s ``pure_pixel_reason`` is ``refused_reason``
    saying so. ``channel_start``: where the pixel end is weighed (:func:`settle_ends`), the factorisation its
    spectra's end is computed from, if not ``(w, h)``.

    A line scan (:attr:`.regions.PixelLayout.judged_as_line`) is judged along its line instead (:func:`line_end`).

    Two verdicts are taken from the map over the single pixels' (EDS; the pixels' positions known, ``layout``
    judgeable): with :data:`MANY_COMPONENTS` or more, a pixel end refused at no more than :data:`MAX_OUTSIDE_MANY`
    outside (``refused_evidence``, its :func:`rotation_evidence`) is taken where the map shows pure phases
    (:func:`shown_on_map`; ``info`` then sets ``pure_pixel_rotation`` True and the member returned is ``refused``);
    and a pixel end the map refuses for the pixels beyond a vertex, while every group fills a region of constant
    composition, falls to the solver's own ``(w, h)``, not the spectra's end: the groups are at fault there, not the
    data (the caller may find them again on the map, :mod:`.map_groups`)."""
    if pixel_end is not None and layout is not None and layout.judged_as_line:
        return line_end(w, h, pixel_end, eds, layout, noise=noise, sigma2=sigma2)
    if refused is not None and layout is not None and layout.judged_as_line:
        held = line_groups_at_fault(w, h, refused, layout, refused_reason)
        if held is not None:
            return held, (w, h)
    shapes = None
    if pixel_end is not None and layout is not None and layout.shows_mixing:
        shapes = pixel_end_shapes(w, h, pixel_end, layout)
        far = max(shapes, key=lambda c: shapes[c].beyond)
        flat = max(shapes, key=lambda c: shapes[c].plateau)
        regions = regions_record(shapes)
        mixed, alike, at_vertex = mixed_pixel_by_pixel(shapes)
        # measured on 64 x 64 maps; on the real Velox EELS maps (16 x 20) real shares read -0.02-0.01 and their
        # pure pixels (0.0-0.6 % outside) were refused: a map too small to weigh regions (judgeable) is not judged
        mixed = mixed and layout.judgeable
        said = None
        if shapes[far].beyond > MAX_BEYOND:
            said = (f"pure pixels refused: {100 * shapes[far].beyond:.0f} % of the pixels lie beyond pure-pixel "
                    f"group {far}'s vertex by more than their noise (over {100 * MAX_BEYOND:.0f} %: no vertex of "
                    "the data)")
        elif shapes[flat].plateau < MIN_PLATEAU and shapes[far].beyond > NARROW_BEYOND:
            said = (f"pure pixels refused: no pure-pixel group fills a region of constant composition (of the "
                    f"pixels where a group's component holds at least half its vertex share, at most "
                    f"{100 * shapes[flat].plateau:.0f} % reach 90 % of it, under {100 * MIN_PLATEAU:.0f} %), and "
                    f"{100 * shapes[far].beyond:.1f} % of the pixels lie beyond group {far}'s vertex by more than "
                    "their noise: the most extreme mixtures of a map mixed everywhere")
        elif mixed:
            said = (f"pure pixels refused: the shares vary from pixel to pixel with no spatial structure (a pixel's "
                    f"share correlates with its neighbours' at most {shapes[alike].structure:.2f}, under "
                    f"{MIN_STRUCTURE:.2f}), and {100 * at_vertex:.1f} % of the pixels reach 90 % of a group's vertex "
                    f"(under {100 * MAX_AT_VERTICES:.0f} %): a map mixed at every pixel, whose groups are its most "
                    "extreme mixtures")
            # the solver's own, not the spectra's end: on these maps (Dirichlet mixtures, EDS) the spectra's end went
            # further from the truth than the solver's own (MCR median 1.7 -> 5.7 degrees, max 3.5 -> 7.2 on one)
            return {"pure_channel_rotation": False, "pure_channel_reason": ("not tried: the map is mixed at every "
                    "pixel; the solver's own spectra kept"), "pure_pixel_rotation": False, "pure_pixel_reason": said,
                    "pure_pixel_regions": regions}, (w, h)
        lowest = min(shapes, key=lambda c: shapes[c].plateau)
        if said is not None and eds and shapes[lowest].plateau >= MIN_PLATEAU and shapes[far].beyond > MAX_BEYOND:
            # every group a region of constant composition, one with pixels beyond its vertex: a plateau beyond a
            # group is a pure phase whose group is a little mixed (Ti K beside Ba L at 200 counts/pixel), not a
            # mixture. The spectra's end assumes none is pure: on four-phase grains, every pixel pure, MCR took it at
            # 46.2 degrees from the truth (Mo, no line of its own beside MoS2), its own 16.9, the map's groups 2.1
            return {"pure_channel_rotation": False, "pure_channel_reason": (
                        f"not tried: every pure-pixel group fills a region of constant composition (of the pixels "
                        f"where group {lowest}'s component holds at least half its vertex share, "
                        f"{100 * shapes[lowest].plateau:.0f} % reach 90 % of it, at least {100 * MIN_PLATEAU:.0f} %): "
                        "phases of their own, whose groups rather than the data are at fault; the solver's own "
                        "spectra kept"),
                    "pure_pixel_rotation": False, "pure_pixel_reason": f"{said}{KEPT_OWN}",
                    "pure_pixel_regions": regions}, (w, h)
        if said is not None:
            # no refused=pixel_end (substrate_of_refused): a vertex this test refuses is one of a map mixed everywhere,
            # whose other groups' plateaus are blob cores. Tried on 288 fits of blob and gradient mixtures (64 x 64 x
            # 512, NMF and MCR): held on three, all rank 4 at 200 counts/pixel, 10.6 -> 19.0 and 28.7 -> 20.5
            # degrees from the truth and one median unchanged; a mixture has no vertex to hold
            info, rot = channel_end(w, h, None, eds, layout, noise=noise, sigma2=sigma2)
            if rot is None:
                info["pure_channel_reason"] = f"{info['pure_channel_reason']}; the solver's own spectra kept"
                rot = (w, h)
            return info | {"pure_pixel_rotation": False, "pure_pixel_reason": said,
                           "pure_pixel_regions": regions}, rot
    if not eds:
        info = {"pure_channel_rotation": False, "pure_channel_reason": "not tried: not EDS data"}
        return info | ({"pure_pixel_regions": regions} if shapes else {}), None
    if pixel_end is not None:
        info, rot = settle_ends(w, h, pixel_end, layout, shapes, noise=noise, sigma2=sigma2,
                                channel_start=channel_start)
        return info | ({"pure_pixel_regions": regions} if shapes else {}), rot
    if eds and refused is not None and refused_evidence is not None:
        shown = shown_on_map(w, h, refused, layout, refused_evidence)
        if shown is not None:
            return shown, refused
    apply, ev, reason, rot = pure_channel_rotation(w, h, noise=noise, sigma2=sigma2)
    info = {"pure_channel_rotation": apply, "pure_channel_evidence": ev, "pure_channel_reason": reason}
    kept = substrate_of_refused(w, h, refused, rot, ev, layout) if apply and refused is not None else None
    why = refused_reason.replace(KEPT_OWN, "")
    if kept is None:
        if apply and why:  # the caller's reason said the solver's own was kept: the spectra's end is
            info["pure_pixel_reason"] = f"{why}{CHANNEL_END_TAKEN}"
        return info, rot
    held, mixed = kept
    regions = ", ".join(str(c) for c in held)
    return info | {"mixed_end": held, "pure_channel_reason": f"{reason}; taken for the components other than {regions}",
                   "pure_pixel_reason": (
                       f"pure pixels kept for component(s) {regions} only, whose groups fill regions of constant "
                       f"composition that at most {100 * NARROW_BEYOND:.0f} % of the pixels lie beyond (vertices of "
                       "the data) and that hold the others' lines, which the spectra's end would strip from them; "
                       f"refused for the others{': ' + why if why else ''}{OTHERS_AT_CHANNEL_END}")}, mixed


def line_end(w: np.ndarray, h: np.ndarray, pixel_end, eds: bool, layout, noise: str = "poisson",
             sigma2: float = 1.0):
    """:func:`channel_end` on a line scan whose pure pixels passed their evidence: ``(info, (W', H') or None)``, None
    keeping the pixel end.

    Each component's share along the line (the pixel end's loadings before their clip, :func:`pixel_end_shapes`) is
    read by :func:`.regions.line_plateaus`. A component whose share is judged (its noise at most
    :data:`.regions.MAX_LINE_NOISE`) and reaches the vertex only at a smooth maximum (plateau under
    :data:`.regions.MIN_LINE_PLATEAU`) has no pure pixels: its group is the most extreme mixture, and the pixel end
    is refused. Then the spectra's end is taken where it passes its evidence (EDS), else the member whose
    components that fill a plateau keep their pixel end and the others take the solver's own spectra
    (:func:`mixed_end`), else the solver's own. Where every judged component fills a plateau, the pixel end is
    kept (the spectra's end is not weighed: :func:`settle_ends`' plateau is a map's).
    Measured (issue 17's line grid: 240 x 1024, EDS and EELS, six profiles, 20-2000 counts/pixel, two seeds, NMF
    and MCR), the largest angle from the truth: an interphase never pure (EDS, 200-2000 counts/pixel) 23.2-33.2 ->
    7.6-21.6 degrees at the spectra's end (the solver's own 14.4-28.1); the same interphase in EELS at 2000
    counts/pixel 18.8-23.1 -> 15.1-21.2 (own 15.9-30.2), its median kept at 3.9-4.0 (own 7.4-21.2); layers,
    multilayers and thin layers unchanged at their pixel end (EELS at 2000 counts/pixel 3.8-11.5 against own
    7.4-36.0). A three-phase gradient, pure only at the scan's two ends, takes the solver's own: EELS at 2000
    counts/pixel median 7.0 -> 19.6 (worst 20.0 -> 21.6, the solver's own)."""
    k = h.shape[0]
    plateaus = line_plateaus(unclipped_loadings(w, h, pixel_end), pixel_end[1], layout, range(k))
    regions = line_regions_record(plateaus)
    peaks = [c for c, (p, n) in plateaus.items() if n <= MAX_LINE_NOISE and p < MIN_LINE_PLATEAU]
    if not peaks:
        info = {"pure_channel_rotation": False, "pure_channel_reason": (
            "not tried: the pure pixels passed their evidence and fill a plateau along the line scan"
            if eds else "not tried: not EDS data")}
        return info | {"pure_pixel_regions": regions}, None
    low = min(peaks, key=lambda c: plateaus[c][0])
    said = (f"pure pixels refused: along the line scan, of the pixels where pure-pixel group {low}'s component holds "
            f"at least half its vertex share, {100 * plateaus[low][0]:.0f} % reach 90 % of it (under "
            f"{100 * MIN_LINE_PLATEAU:.0f} %: a smooth maximum, the most extreme mixture, not a region of its own)")
    info, rot = channel_end(w, h, None, eds, None, noise=noise, sigma2=sigma2)
    info |= {"pure_pixel_rotation": False, "pure_pixel_regions": regions}
    if rot is not None:
        return info | {"pure_pixel_reason": f"{said}{CHANNEL_END_TAKEN}"}, rot
    held = [c for c in range(k) if c not in peaks]
    _, match = spectral_angles(h, pixel_end[1])
    mixed = mixed_end(w, h, pixel_end, (w, h), held, match) if held else None
    if mixed is None:
        return info | {"pure_pixel_reason": f"{said}{KEPT_OWN}"}, (w, h)
    regions_held = ", ".join(str(c) for c in held)
    return info | {"mixed_end": held, "pure_pixel_reason": (
        f"pure pixels kept for component(s) {regions_held} only, which fill a plateau along the line scan; "
        f"{said[len('pure pixels refused: '):]}{OTHERS_OWN}")}, mixed


def line_regions_record(plateaus: dict) -> dict:
    """``info["pure_pixel_regions"]`` of a line scan's plateaus (:func:`.regions.line_plateaus`)."""
    return {"line_plateau_fractions": {str(c): round(p, 3) for c, (p, _) in plateaus.items()},
            "line_noise": {str(c): round(n, 4) for c, (_, n) in plateaus.items()},
            "min_line_plateau": MIN_LINE_PLATEAU, "max_line_noise": MAX_LINE_NOISE}


def line_groups_at_fault(w: np.ndarray, h: np.ndarray, refused, layout, refused_reason: str) -> dict | None:
    """``info`` keeping the solver's own ``(w, h)`` on a line scan whose single pixels refused the pixel end
    (``refused``, data units) while every component of that member fills a plateau along the line
    (:func:`.regions.line_plateaus`, each judged: noise at most :data:`.regions.MAX_LINE_NOISE`); else None.

    Every component pure over a region of its own, the groups rather than the data are at fault (a group of one
    noisy pixel at a layer's interface, which the layer's pixels lie beyond), as on a map (:func:`channel_end`: every
    group a plateau, pixels beyond one); the spectra's end, which assumes no pixel is pure, is not tried."""
    k = h.shape[0]
    plateaus = line_plateaus(unclipped_loadings(w, h, refused), refused[1], layout, range(k))
    if not all(n <= MAX_LINE_NOISE and p >= MIN_LINE_PLATEAU for p, n in plateaus.values()):
        return None
    low = min(plateaus, key=lambda c: plateaus[c][0])
    regions = line_regions_record(plateaus)
    return {"pure_channel_rotation": False, "pure_channel_reason": (
                f"not tried: along the line scan every pure-pixel group's component fills a plateau (of the pixels "
                f"where group {low}'s component holds at least half its vertex share, {100 * plateaus[low][0]:.0f} % "
                f"reach 90 % of it, at least {100 * MIN_LINE_PLATEAU:.0f} %): phases of their own, whose groups "
                "rather than the data are at fault; the solver's own spectra kept"),
            "pure_pixel_rotation": False, "pure_pixel_reason": f"{refused_reason.replace(KEPT_OWN, '')}{KEPT_OWN}",
            "pure_pixel_regions": regions}


def regions_record(shapes: dict) -> dict:
    """``info["pure_pixel_regions"]`` of the map's shapes (:func:`pixel_end_shapes`): each group's fraction beyond
    its vertex and plateau, and, where measured, its neighbour correlation and share of pixels at the vertex."""
    regions = {"beyond_fractions": {str(c): round(x.beyond, 3) for c, x in shapes.items()},
               "max_beyond": MAX_BEYOND,
               "plateau_fractions": {str(c): round(x.plateau, 3) for c, x in shapes.items()},
               "min_plateau": MIN_PLATEAU}
    if np.isfinite(shapes[mixed_pixel_by_pixel(shapes)[1]].structure):  # the most alike measured
        regions |= {"neighbour_correlations": {str(c): round(x.structure, 3) for c, x in shapes.items()},
                    "min_structure": MIN_STRUCTURE,
                    "at_vertex_fractions": {str(c): round(x.at_vertex, 4) for c, x in shapes.items()},
                    "max_at_vertices": MAX_AT_VERTICES}
    return regions


def mixed_pixel_by_pixel(shapes: dict) -> tuple[bool, int, float]:
    """``(mixed, alike, at_vertex)``: whether the map is mixed at every pixel -- no component's shares alike between
    neighbours (the most alike, ``alike``, under :data:`MIN_STRUCTURE`; a component not measured counts as alike)
    and the pixels at a vertex, summed over the components (``at_vertex``), under :data:`MAX_AT_VERTICES`."""
    alike = max(shapes, key=lambda c: np.nan_to_num(shapes[c].structure, nan=1.0))
    at_vertex = sum(x.at_vertex for x in shapes.values())
    return bool(shapes[alike].structure < MIN_STRUCTURE and at_vertex < MAX_AT_VERTICES), alike, at_vertex


def shown_on_map(w: np.ndarray, h: np.ndarray, refused, layout, evidence: dict) -> dict | None:
    """``info`` taking the pixel end ``refused`` (data units) that the single pixels' evidence (``evidence``, of
    :func:`rotation_evidence`) refused with :data:`MANY_COMPONENTS` or more components at no more than
    :data:`MAX_OUTSIDE_MANY` of the pixels outside (and no more than :data:`MAX_DEEP` deep), where the map shows
    pure phases: every group fills a region of constant composition (plateau at least :data:`MIN_PLATEAU`), and no
    more than :data:`MAX_BEYOND` of the pixels lie beyond any vertex (the map's own test, :func:`channel_end`).
    Else None.

    The candidate groups of pure phases spread further as k grows (:data:`MAX_OUTSIDE_MANY`), into the band where
    mixtures too lie; a mixture's map has no plateau under every group (:func:`channel_end`).
    Taken as it is, not weighed against the spectra's end (:func:`settle_ends`): refused there, four-phase grains
    whose spectra's end misreads a phase without a line of its own (Mo beside MoS2) took it for a support film
    seen through particles (:data:`SUBSTRATE_LEVEL`), 3.3 -> 70 degrees from the truth."""
    k = h.shape[0]
    outside = evidence.get("outside_fraction")
    if (k < MANY_COMPONENTS or outside is None or outside > MAX_OUTSIDE_MANY
            or evidence.get("deep_outside_fraction", 1.0) > MAX_DEEP or layout is None or not layout.judgeable):
        return None
    shapes = pixel_end_shapes(w, h, refused, layout)
    lowest = min(shapes, key=lambda c: shapes[c].plateau)
    far = max(shapes, key=lambda c: shapes[c].beyond)
    # pure phases shown on a map are regions: a map mixed pixel by pixel passes plateau and beyond (its smoothed
    # shares level off, nothing lies beyond) but no component's shares are alike between neighbours. A code review:
    # four-phase Dirichlet(1) at 220 counts/pixel, 10.7 % outside (neighbour correlations -0.015-0.003; 15 % of the
    # pixels at a vertex by noise, so channel_end's test of such maps did not hold) was taken, MCR 20.0 degrees from
    # the truth (its own 3.1; before this rule 7.7). The grains it serves read 0.16-0.99
    alike = mixed_pixel_by_pixel(shapes)[1]
    if (shapes[lowest].plateau < MIN_PLATEAU or shapes[far].beyond > MAX_BEYOND
            or shapes[alike].structure < MIN_STRUCTURE):
        return None
    return {"pure_pixel_rotation": True, "pure_pixel_regions": regions_record(shapes),
            "pure_pixel_reason": (
                f"pure pixels: {100 * outside:.1f} % of the pixels lie outside the simplex of the {k} pure-pixel "
                f"groups (more than {100 * MAX_OUTSIDE:.0f} %, at most {100 * MAX_OUTSIDE_MANY:.0f} % with "
                f"{MANY_COMPONENTS} components or more, whose groups of pure phases spread further), and on the map "
                f"every group fills a region of constant composition (of the pixels where group {lowest}'s component "
                f"holds at least half its vertex share, {100 * shapes[lowest].plateau:.0f} % reach 90 % of it, at "
                f"least {100 * MIN_PLATEAU:.0f} %) that {100 * shapes[far].beyond:.1f} % of the pixels lie beyond "
                f"(at most {100 * MAX_BEYOND:.0f} %): phases of their own"),
            "pure_channel_rotation": False,
            "pure_channel_reason": "not tried: the pure pixels are shown on the map (pure_pixel_reason)"}


def pixel_end_shapes(w: np.ndarray, h: np.ndarray, pixel_end, layout) -> dict:
    """The :class:`.regions.RegionShape` of each component of the pixel end ``(W M^-1, M H)`` of the factorisation
    ``(w, h)`` (data units), judged on its loadings before their clip at zero (:func:`unclipped_loadings`): the
    solver's model written in the pixel end's spectra. Clipped, every pixel beyond a group's centre piles up at its
    vertex and reads as a plateau (:func:`settle_ends`)."""
    return region_shapes(unclipped_loadings(w, h, pixel_end), pixel_end[1], layout, range(h.shape[0]))


def unclipped_loadings(w: np.ndarray, h: np.ndarray, pixel_end) -> np.ndarray:
    """The factorisation ``(w, h)`` written in the pixel end's spectra ``pixel_end[1]``: its loadings before their
    clip at zero (a pixel beyond a group's vertex keeps its negative share of the others)."""
    return w @ (h @ np.linalg.pinv(pixel_end[1]))


def substrate_of_refused(w: np.ndarray, h: np.ndarray, refused, channel_end, ev: dict, layout):
    """``(held, (W', H'))`` where a pixel end ``refused`` as a whole (data units) has components that keep it
    (:func:`mixed_end`), else None. ``channel_end``: the spectra's end ``(W, H)`` taken, ``ev`` its evidence.

    The pixel end is refused where some group is no vertex (the particles' extreme mixtures, which pixels lie beyond),
    but each component's end is its own (:func:`mixed_end`): a group that fills a plateau that no more than
    :data:`NARROW_BEYOND` of the pixels lie beyond is a vertex of a region of its own, whatever the other groups. Where
    it also holds the other components' lines (:func:`_holding_particle_lines`), the spectra's end strips them from
    it: a metal on its own oxide, whose pixel end was refused at 13 % of the pixels outside, the oxide 44.6 degrees
    from the truth at the spectra's end (the solver's own 2.7, held at its pixels 0.25; issue 17).
    Measured (NMF and MCR, 280 EDS scenes: particles on substrates, grains, layers, blobs, gradients, minor phases,
    alloys, films, 48 x 48 to 96 x 96, 200 and 2000 counts/pixel), the median angle from the truth where a component
    was held: a metal under its oxide 24.0 -> 1.9 / 1.5 (NMF / MCR), 4.8 / 9.5 -> 0.8 / 0.9; Si on SiO2 8.3 / 9.5 ->
    0.5 / 1.8; three-phase particles with an oxide substrate 4.6 / 4.0 / 4.6 -> 3.6 / 4.0 / 3.9 (NMF) and 4.0 ->
    2.9 (MCR), max 40-55 -> 4.0-4.6, one more unchanged; a three-phase alloy at 200 counts/pixel 14.2 -> 12.2.
    Worse on one: a four-phase blob mixture at 200 counts/pixel, whose blob core (plateau 0.62, 0.9 % of the pixels
    beyond, share 0.89) went 16.9 -> 29.8 degrees (the median unchanged at 5.8; the solver's own 17.3): at rank 4 and
    200 counts/pixel nothing measured tells a blob's core from a substrate (:data:`MIXING_SHARE`). The nearest blob
    cores not held: 2.2 % of the pixels beyond (and share 0.28) and 4.2 %; held they went 1.5 -> 6.9 and 2.3 -> 8.4
    degrees."""
    if layout is None or not layout.judgeable:
        return None
    k = h.shape[0]
    shapes = pixel_end_shapes(w, h, refused, layout)
    candidates = [c for c in range(k) if shapes[c].plateau >= MIN_PLATEAU and shapes[c].beyond <= NARROW_BEYOND]
    particles = [c for c in range(k) if c not in candidates]
    if not candidates or not particles:
        return None
    _, match = spectral_angles(channel_end[1], refused[1])
    ev["refused_plateau_fractions"] = {str(c): round(shapes[c].plateau, 3) for c in range(k)}
    ev["refused_beyond_fractions"] = {str(c): round(shapes[c].beyond, 3) for c in range(k)}
    held = _holding_particle_lines(candidates, particles, shapes, refused, ev, match)
    mixed = mixed_end(w, h, refused, channel_end, held, match) if held else None
    return None if mixed is None else (held, mixed)


def substrate_levels(pixel_end, channel_end, disputed, match) -> dict[int, float]:
    """``{component: level}`` for each undisputed component of the pixel end ``(W, H)`` (data units) whose own
    pixels (90 % of the pixel end's share) and the disputed components' (at least half) number 5 or more: the
    median of its loading at the spectra's end ``channel_end`` (``match``: the spectra's end's component paired with
    each pixel-end component by spectra, -1 for none) over the disputed components' pixels, divided by that over its
    own. About 1 where it goes on under them undiminished (a support film), near
    0 where they replace it (:data:`SUBSTRATE_LEVEL`)."""
    share = _loading_shares(pixel_end)
    disputed = [int(c) for c in disputed]
    under = np.any(share[:, disputed] >= 0.5, axis=1)
    levels = {}
    for c in range(share.shape[1]):
        own = share[:, c] >= 0.9
        if c in disputed or match[c] < 0 or own.sum() < 5 or under.sum() < 5:
            continue
        levels[c] = _level_under(share, channel_end, c, match, under)
    return levels


def _loading_shares(pixel_end) -> np.ndarray:
    """(pixels, k): each component's share of each pixel's loadings at ``pixel_end`` (negative loadings clipped; in
    the loadings' units, not the counts' of :func:`.regions._shares`)."""
    wp = np.maximum(np.asarray(pixel_end[0], dtype=float), 0.0)
    return wp / np.maximum(wp.sum(axis=1, keepdims=True), 1e-300)


def _level_under(share, channel_end, c, match, under) -> float:
    """Component ``c``'s loading at the spectra's end over the pixels ``under`` (median), divided by that over its
    own pixels (90 % of the pixel end's share)."""
    loading = np.asarray(channel_end[0][:, match[c]], dtype=float)
    return float(np.median(loading[under]) / max(float(np.median(loading[share[:, c] >= 0.9])), 1e-300))


def levels_under_each(pixel_end, channel_end, film: int, match) -> dict[int, float]:
    """``{component: level}``: the level of :func:`substrate_levels` of component ``film``, read under each other
    component's pixels apart (at least half of the pixel end's share; those of 5 pixels or more). A support film
    lies under every phase, near 1 under each (0.60-1.0 on C and SiN films under two kinds of particle); a compound
    beside its metal seems to go on under the metal only, whose spectra's end lacks the lines they share, and is
    replaced by the other phases (0.02: MoS2 under TiO2 grains) -- :data:`FILM_UNDER_EACH`."""
    share = _loading_shares(pixel_end)
    return {o: _level_under(share, channel_end, film, match, share[:, o] >= 0.5) for o in range(share.shape[1])
            if o != film and np.count_nonzero(share[:, o] >= 0.5) >= 5}


def line_shares(pixel_end, group_channels, particles, match) -> dict[int, float]:
    """``{component: share}`` for each component of the pixel end ``(W, H)``: the most, over the ``particles``
    (pixel-end components), of its unit-sum spectrum's counts in a particle's channel group (``group_channels``, of
    the spectra's end's components; ``match`` pairs them with the pixel end's, as :func:`substrate_levels`)
    relative to the particle's own there. About
    0.5 for SiO2 at the Si K line of Si particles; a spectrum without the particles' lines holds only its continuum
    there (under 0.01 on 512 channels). 0 where a component is not paired."""
    h = np.maximum(np.asarray(pixel_end[1], dtype=float), 0.0)
    h = h / np.maximum(h.sum(axis=1, keepdims=True), 1e-300)
    out = {c: 0.0 for c in range(h.shape[0])}
    for d in particles:
        if match[d] < 0:
            continue
        g = np.asarray(group_channels[match[d]], dtype=np.int64)
        own = max(float(h[d, g].sum()), 1e-300)
        for c in out:
            if c != d:
                out[c] = max(out[c], float(h[c, g].sum()) / own)
    return out


def _holding_particle_lines(candidates, particles, shapes, pixel_end, ev: dict, match) -> list[int]:
    """Those of the ``candidates`` (components whose pure-pixel groups fill a plateau) that hold the lines of the
    ``particles`` taken at their lines (:func:`line_shares`): what the spectra's end would strip from them, so they
    keep their pixel end (:func:`mixed_end`). Records the shares and bounds in ``ev``.

    A region of one constant mixture (a flat flake over the substrate) fills a plateau too, and held at its pixels
    next to particles of lines of their own it went 0.3-0.8 -> 20-67 degrees from the truth (a reviewer's 17 scenes);
    its mixture holds none of the particles' lines (:data:`SHARED_LINE`). A blob's core mixes them in, a little
    (:data:`MIXING_SHARE`), and fills no clear plateau (:data:`CLEAR_PLATEAU`)."""
    shares = line_shares(pixel_end, ev["group_channels"], particles, match)
    ev["particle_line_shares"] = {str(c): round(shares[c], 3) for c in candidates}
    ev |= {"shared_line": SHARED_LINE, "mixing_share": MIXING_SHARE, "clear_plateau": CLEAR_PLATEAU}
    return [c for c in candidates if shares[c] >= SHARED_LINE
            and (shares[c] >= MIXING_SHARE or shapes[c].plateau >= CLEAR_PLATEAU)]


def mixed_end(w: np.ndarray, h: np.ndarray, pixel_end, channel_end, held,
              match) -> tuple[np.ndarray, np.ndarray] | None:
    """The member of the family whose components ``held`` are those of the pixel end and the others those of the
    spectra's end (paired by spectra, ``match`` as in :func:`substrate_levels`): ``(W', H')`` in data units, or None
    where a component is unpaired or the spectra define no rotation of ``h``.

    Why each component may take its own end: a component's spectrum is fixed by the pure pixels of its own phase
    (its map's vertex) or by the channels its phase lacks (a zero of its spectrum where another phase emits), and
    for two components the two choices are independent (the family is a box in the two mixing shares). Particles
    on a substrate of a phase holding every line of theirs (Si on SiO2, a metal on its own oxide) are the case: the
    substrate is pure in a region of constant composition, the particles never (the beam crosses the substrate),
    and only the particles lack a line (O K). The pixel end mixes substrate into the particles; the spectra's end
    strips the shared line from the substrate (measured, a reviewer's 48 x 48 x 512 EDS map at 2000 counts/pixel:
    41.3 degrees from the truth, the solver's own 6.2); the substrate from its pixels and the particles at their
    lines: 0.3 / 1.9 (see ``test_no_pure_pixels``)."""
    if np.any(match < 0):
        return None
    spectra = np.array(channel_end[1], dtype=float)[match]
    spectra[held] = np.asarray(pixel_end[1], dtype=float)[held]
    spectra = np.maximum(spectra, 0.0)
    m = _usable(np.linalg.lstsq(h.T, spectra.T, rcond=None)[0].T)
    if m is None:
        return None
    return np.maximum(w @ np.linalg.inv(m), 0.0), spectra


def _film_takes_a_shared_line(w, h, info: dict, ev: dict, film: int, levels: dict, thick: int, each: dict):
    """:func:`settle_ends`' verdict where the spectra's end has component ``film`` go on under the disputed
    components (``levels``, :func:`substrate_levels`, at least :data:`SUBSTRATE_LEVEL`) but grow under component
    ``thick`` (``each``, :func:`levels_under_each`) to over :data:`FILM_OVER_EACH` times its own level: that end
    moved a line ``thick`` shares with the film onto the film, and the pure-pixel groups are particle-and-film
    mixtures, so neither end is the physical one: the solver's own ``(w, h)`` is kept."""
    ev |= {"substrate_levels": {str(c): round(v, 3) for c, v in levels.items()}, "substrate_level": SUBSTRATE_LEVEL,
           "film_levels_under_each": {str(c): round(v, 3) for c, v in each.items()},
           "film_over_each": FILM_OVER_EACH}
    level, under = levels[film], each[thick]
    said = (f"component {film} goes on under the disputed components at {100 * level:.0f} % of its own level at the "
            f"spectra's end, but under component {thick} at {100 * under:.0f} % (over {100 * FILM_OVER_EACH:.0f} %: "
            "not a film of one thickness but one that takes a line it shares with those particles, which the "
            "spectra's end strips from them; the pure-pixel groups, particles seen through it, are mixtures with it)")
    return info | {"pure_channel_rotation": False, "pure_pixel_rotation": False,
                   "pure_channel_reason": f"not taken: {said}; the solver's own spectra kept",
                   "pure_pixel_reason": f"pure pixels refused: {said}{KEPT_OWN}"}, (w, h)


def settle_ends(w: np.ndarray, h: np.ndarray, pixel_end, layout, shapes=None, noise: str = "poisson",
                sigma2: float = 1.0, channel_start=None):
    """EDS data where the pure pixels passed their evidence and the spectra's end may pass its own: which end is
    the physical one. ``(info, (W', H') or None)``: None keeps the pixel end; else the spectra's end is taken and
    ``info`` also sets ``pure_pixel_rotation`` False with its ``pure_pixel_reason``.

    Both evidences passing is the ambiguous case (:func:`rotation_evidence`): a region of one constant mixture and
    a phase of its own are the same data. What tells them apart is the shape of the region
    (:func:`.regions.region_shapes`): a phase fills regions of constant composition, whereas an extreme
    mixture (the centre of a particle seen through its substrate, the core of a smooth blob) is reached at a few
    points only. Where the two ends give the same spectra (within :data:`DISPUTED_DEGREES`: each phase has a line
    of its own *and* pure pixels) nothing is at stake and the pixel end is kept, unless components moved by at least
    :data:`MOVED_DEGREES` have a film going on under them (:func:`substrate_levels`). Else the pixel end is kept when
    every disputed component's group fills a plateau (:data:`MIN_PLATEAU`) and no undisputed component goes on
    under them at the spectra's end (:func:`substrate_levels`, :data:`SUBSTRATE_LEVEL`: a support film, which
    goes on under each other component too, :data:`FILM_UNDER_EACH`); else
    the spectra's end is taken -- for every component but those whose group fills a plateau (an undisputed one: a
    plateau that no more than :data:`NARROW_BEYOND` of the pixels lie beyond) and that hold the lines of the
    particles taken at their lines (:func:`line_shares`, :data:`SHARED_LINE`; :data:`MIXING_SHARE` unless its plateau
    is at least :data:`CLEAR_PLATEAU`): a substrate around particles of its
    own element, which keeps its pure pixels (:func:`mixed_end`; not under a film, whose particles' plateaus are
    mixtures with it).
    ``shapes``: the pixel end's :class:`.regions.RegionShape` per component
    (:func:`channel_end`), where ``layout`` is judgeable. ``channel_start``: the factorisation, of the same family,
    the spectra's end is computed from where not ``(w, h)``: VCA's pure-pixel model is one vertex per group, and the
    channel groups chosen from a vertex that is an extreme mixture miss the substrate's lines
    (:func:`.vca.judged`).
    Measured (NMF, 76 EDS scenes where both evidences pass, the median angle of the spectra from the truth summed
    over the scenes in excess of the better end's): 650 degrees always at the pixel end (43 scenes more than 1
    degree off), 265 always at the spectra's end (24: the demo's Si beside SiO2, alloys, pure-patch cubes), 110 by
    this rule (7: three alloys whose phases blend softly, one blob mixture, two at 20 counts/pixel, one where both
    ends are far off). Where the pixels' positions are not known (``layout`` None: a subset fit)
    or too few (:data:`.regions.MIN_PIXELS`), the pixel end is kept. A pure phase of regions only a few pixels
    across reads as a mixture (:mod:`.regions`), and so do pure phases that blend softly into their neighbours:
    where such phases also lack lines of their own, the spectra's end passes its evidence but is wrong (one cube of
    28 pure-pixel EDS cubes tried: 0.99 -> 21.0 degrees; ``test_no_pure_pixels``)."""
    if layout is None or not layout.judgeable:
        why = ("the spectra were fitted on a scattered subset of the pixels, too sparse a map to judge regions"
               if layout is None else f"the map has fewer than {MIN_PIXELS} pixels, too few to judge regions")
        return {"pure_channel_rotation": False, "pure_channel_reason": (
            f"not tried: the pure pixels passed their evidence and {why}")}, None
    start = (w, h) if channel_start is None else channel_start
    apply, ev, reason, rot = pure_channel_rotation(*start, noise=noise, sigma2=sigma2)
    info = {"pure_channel_rotation": False, "pure_channel_evidence": ev}
    if ev.get("pure_already") and ev.get("outside_fraction", 1.0) <= MAX_OUTSIDE_CHANNELS:
        apply, rot = True, start  # the solver ended at the spectra's end itself
    if not apply:
        info["pure_channel_reason"] = f"{PIXELS_KEPT}: {reason}"
        return info, None
    # per pixel-end component, paired by least angle: the spectra's end's component and the angle between them
    angles, match = spectral_angles(rot[1], pixel_end[1])
    ev["end_angles"] = [round(float(a), 2) for a in angles]
    disputed = np.flatnonzero(angles >= DISPUTED_DEGREES)
    moved = np.flatnonzero(angles >= MOVED_DEGREES)
    weighed = disputed if len(disputed) else moved
    levels = substrate_levels(pixel_end, rot, weighed, match) if len(weighed) else {}
    film = max(levels, key=levels.get) if levels else None
    under_film = film is not None and levels[film] >= SUBSTRATE_LEVEL
    # a film lies under every phase; a compound seems to go on under its metal alone (FILM_UNDER_EACH)
    each = levels_under_each(pixel_end, rot, film, match) if under_film else {}
    thin = min(each, key=each.get) if each else None
    thin = thin if thin is not None and each[thin] < FILM_UNDER_EACH else None
    thick = max(each, key=each.get) if each else None
    if thin is None and thick is not None and each[thick] > FILM_OVER_EACH:
        return _film_takes_a_shared_line(w, h, info, ev, film, levels, thick, each)
    under_film = under_film and thin is None
    if not len(disputed) and under_film:
        disputed = moved  # a support seen through particles moved them: weighed below
    if not len(disputed):
        info["pure_channel_reason"] = (f"not needed: both ends pass their evidence and give the same spectra (within "
                                       f"{DISPUTED_DEGREES:g} degrees); the pure pixels kept")
        return info, None
    # the shapes are of the pixel end's loadings before their clip at zero (:func:`channel_end`). Clipped, every
    # pixel beyond a group's centre piles up at its vertex and reads as a plateau: a group of extreme mixtures (a
    # quarter of the pixels at 20 counts/pixel) then made a smooth blob or gradient look like a phase of its own
    # a group of isolated pixels (a phase of single-pixel precipitates) has no region to fill: its smoothed share
    # stays under DOMAIN_LEVEL everywhere, and it is judged by the other disputed components' regions where any is
    # judgeable (six Cu pixels beside two pure halves at 200 counts/pixel read 0.21 and took the spectra's end: the
    # major Fe 13.7 degrees from the truth, 3.0 at its pixels)
    isolated = [int(c) for c in disputed if shapes[int(c)].peak < DOMAIN_LEVEL]
    judged = [int(c) for c in disputed if int(c) not in isolated] or [int(c) for c in disputed]
    if isolated and len(judged) < len(disputed):
        ev["isolated_groups"] = isolated
    plateaus = {c: shapes[c].plateau for c in judged}
    ev["plateau_fractions"] = {str(c): round(p, 3) for c, p in plateaus.items()}
    ev["min_plateau"] = MIN_PLATEAU
    low_c = min(plateaus, key=plateaus.get)
    low = plateaus[low_c]
    said = (f"both ends pass their evidence and their spectra differ by up to {angles.max():.0f} degrees; of the "
            f"pixels where pure-pixel group {low_c}'s component holds at least half its vertex share, "
            f"{100 * low:.0f} % reach 90 % of it")
    ev["substrate_levels"] = {str(c): round(v, 3) for c, v in levels.items()}
    ev["substrate_level"] = SUBSTRATE_LEVEL
    if each:
        ev["film_levels_under_each"] = {str(c): round(v, 3) for c, v in each.items()}
        ev["film_under_each"] = FILM_UNDER_EACH
    no_film = "" if thin is None else (
        f"; component {film} goes on under the disputed components at {100 * levels[film]:.0f} % of its own level at "
        f"the spectra's end, but under component {thin} at {100 * each[thin]:.0f} % (under "
        f"{100 * FILM_UNDER_EACH:.0f} %: no support under every phase)")
    # a plateau, but a dense particle's over the support seen through it, not a phase of its own
    through = low >= MIN_PLATEAU and under_film
    if through:
        said = (f"{said} (a plateau), but component {film} goes on under the disputed components at "
                f"{100 * levels[film]:.0f} % of its own level at the spectra's end (at least "
                f"{100 * SUBSTRATE_LEVEL:.0f} %: a support seen through particles, whose pure-pixel groups are "
                "mixtures with it)")
    if low >= MIN_PLATEAU and not through:
        info["pure_channel_reason"] = (f"not taken: {said} (at least {100 * MIN_PLATEAU:.0f} %: regions of constant "
                                       f"composition, phases of their own){no_film}; the pure pixels kept")
        return info, None
    own = ev.get("pure_already", False)
    # the disputed components whose groups fill a plateau, judged as the whole pixel end is above; and the undisputed
    # ones whose groups fill a plateau that nothing lies beyond: a substrate whose ends differ by less than
    # DISPUTED_DEGREES is still stripped of a shared line at the spectra's end (Fe on its oxide at 2000
    # counts/pixel: 8.2 degrees apart, the spectra's end 8.3 from the truth, its pixels 0.3; 0.1 % of the pixels
    # beyond). Without that second condition an undisputed component of a smooth blob mixture levelling off at 0.57
    # (6.2 % beyond) was held at its pixels: MCR 2.0 -> 3.6 degrees
    held = [c for c in sorted(shapes) if shapes[c].plateau >= MIN_PLATEAU
            and (c in plateaus or shapes[c].beyond <= NARROW_BEYOND)]
    held = _holding_particle_lines(held, [c for c in plateaus if plateaus[c] < MIN_PLATEAU], shapes, pixel_end, ev,
                                   match)
    # a film going on under the disputed components makes their plateaus particle-and-film mixtures (not regions of
    # a phase of its own): a reviewer's SiN film under Ag and TiO2 read one at 0.44 or more, and kept at the pixel
    # end it went 0.6 -> 17 degrees from the truth
    mixed = None if under_film or own or not held else mixed_end(w, h, pixel_end, rot, held, match)
    if mixed is not None:
        regions = ", ".join(str(c) for c in held)
        info |= {"pure_channel_rotation": True, "pure_pixel_rotation": False, "mixed_end": held,
                 "pure_channel_reason": (f"{reason}; taken for the components other than {regions} because {said}"),
                 "pure_pixel_reason": (f"pure pixels kept for component(s) {regions} only, whose groups fill regions "
                                       f"of constant composition (at least {100 * MIN_PLATEAU:.0f} % reach 90 % of "
                                       f"the vertex share), and refused for the others: {said} (under "
                                       f"{100 * MIN_PLATEAU:.0f} %: the most extreme mixtures){OTHERS_AT_CHANNEL_END}")}
        return info, mixed
    info |= {"pure_channel_rotation": not own, "pure_pixel_rotation": False,
             "pure_channel_reason": (f"the solver's own spectra, pure at each component's channel groups already, "
                                     f"kept because {said}" if own else f"{reason}; taken because {said}"),
             "pure_pixel_reason": (f"pure pixels refused: {said}" + ("" if through else (
                                   f" (under {100 * MIN_PLATEAU:.0f} %: the most extreme mixtures, not regions of "
                                   "constant composition)")) + (OWN_AT_CHANNEL_END if own else CHANNEL_END_TAKEN))}
    return info, rot
